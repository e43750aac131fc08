"""The one check of the URLs a user hands in: ``base_url``, ``auth_url``, ``redirect_uri``."""

from __future__ import annotations

import httpx

__all__ = ["checked_url"]


def checked_url(name: str, value: object, *, query: bool = False) -> httpx.URL:
    """``value`` parsed; TypeError / ValueError naming ``name`` unless it is an absolute http(s)
    URL with a valid host and port (1..65535), no user info, no fragment, and no query unless
    ``query`` allows one."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    try:
        url = httpx.URL(value)
        host, port = url.host, url.port
    except (httpx.InvalidURL, ValueError) as exc:  # IDNA errors are UnicodeErrors
        raise ValueError(f"{name} is not a valid URL ({exc})") from None
    if url.scheme not in ("http", "https") or not host:
        raise ValueError(f"{name} must be an absolute http(s) URL")
    if "%" in host and ":" not in host:  # httpx percent-encodes a space; an IPv6 zone keeps %
        raise ValueError(f"{name} has no valid host name")
    if "#" in value or (not query and "?" in value):
        allowed = "a fragment" if query else "a query or a fragment"
        raise ValueError(f"{name} must not have {allowed}")
    if url.userinfo:  # it would show in repr and logs, and send no credentials we know of
        raise ValueError(f"{name} must not carry a user name or password")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{name} has no valid port ({port})")
    return url
