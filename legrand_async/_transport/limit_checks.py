"""Checks of RateLimit's arguments that are not plain numbers (the reset time, the clock), and
the error of a call refused by the gateway's word."""

from __future__ import annotations

from datetime import date, datetime, time

from ..errors import ServerQuotaExhausted

__all__ = ["clock_like", "reset_time", "spent"]


def reset_time(value: object) -> None:
    """An aware ``datetime.time`` whose zone gives an offset."""
    if not isinstance(value, time):
        raise TypeError(f"day_resets_at must be a datetime.time, got {value!r}")
    try:
        offset = datetime.combine(date(2000, 1, 1), value).utcoffset()
    except Exception as exc:  # a tzinfo of the user's own that fails
        raise ValueError(f"day_resets_at has a time zone that gives no offset ({exc})") from None
    if offset is None:
        raise ValueError("day_resets_at must be an aware time, e.g. time(0, tzinfo=UTC)")


def clock_like(value: object) -> None:
    if not all(callable(getattr(value, name, None)) for name in ("now", "monotonic", "sleep")):
        raise TypeError(f"clock must have now(), monotonic() and sleep(), got {value!r}")


def spent(until: datetime, said: ServerQuotaExhausted | None) -> ServerQuotaExhausted:
    """The gateway's word that the day is spent until ``until``: the error of its answer
    ``said`` again, ``attempts`` 0 (nothing is sent); a bare 403 when the mark came from a
    store (another process, or before this one started)."""
    when = until.isoformat(timespec="seconds")
    if said is None:
        return ServerQuotaExhausted(
            f"call quota spent until {when}, as the gateway said (to this process before it "
            "started, or to another)",
            resets_at=until,
            status_code=403,
            attempts=0,
        )
    return ServerQuotaExhausted(
        f"call quota spent until {when}, as the gateway said ({said.message})",
        resets_at=until,
        status_code=said.status_code,
        code=said.code,
        request_id=said.request_id,
        body=said.body,
        attempts=0,
        retry_after=said.retry_after,
    )
