"""The public surface: ``legrand_async.__all__``, pinned (a change to it is a deliberate one)."""

from __future__ import annotations

import legrand_async
from legrand_async.models import home_control, smarther

PUBLIC = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_STATUSES",
    "APIError",
    "AppPasswordExpired",
    "AuthError",
    "AuthorizationCodeExpired",
    "BadRequest",
    "CallHomeTicket",
    "Change",
    "ChronothermostatStatus",
    "ClientSecretExpired",
    "Clock",
    "Conflict",
    "DeviceBusy",
    "Discovery",
    "FileQuotaStore",
    "FileTokenStore",
    "Forbidden",
    "Function",
    "HomeControlPlant",
    "HomeControlTopology",
    "InvalidTokenResponse",
    "LegrandClient",
    "LegrandError",
    "LoadState",
    "LockingTokenStore",
    "Measure",
    "Measures",
    "MemoryTokenStore",
    "Mode",
    "Module",
    "ModuleKind",
    "ModuleStatus",
    "NotAcceptable",
    "NotFound",
    "OAuth2Auth",
    "OAuthApp",
    "PollOptions",
    "Poller",
    "Program",
    "PushHealth",
    "Quota",
    "QuotaExhausted",
    "QuotaStore",
    "QuotaStoreUnavailable",
    "RateLimit",
    "RateLimited",
    "RateLimits",
    "ReauthorizationRequired",
    "RedirectUriMismatch",
    "RequestTimeout",
    "ResponseTooLarge",
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "ServerQuotaExhausted",
    "SetStatus",
    "SharedQuotaStore",
    "SmartherPlant",
    "SmartherTopology",
    "SocketPlug",
    "StateMismatch",
    "StaticToken",
    "Stats",
    "StatusChange",
    "Subscription",
    "SystemClock",
    "TermsExpired",
    "ThermostatPoller",
    "ThermostatWatch",
    "Token",
    "TokenRateLimited",
    "TokenRefreshTimeout",
    "TokenServerError",
    "TokenStore",
    "TokenStoreError",
    "TransportError",
    "Unauthorized",
    "WrongInput",
    "__version__",
]


def _isort_key(name: str) -> tuple[int, str]:
    """The order of ``__all__`` (ruff's RUF022): CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def test_all_is_pinned_and_sorted() -> None:
    assert legrand_async.__all__ == PUBLIC
    assert sorted(PUBLIC, key=_isort_key) == PUBLIC
    assert len(set(PUBLIC)) == len(PUBLIC)


def test_every_name_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from legrand_async import *", namespace)  # noqa: S102 - a fixed statement
    assert set(PUBLIC) <= set(namespace)
    for name in PUBLIC:
        assert namespace[name] is getattr(legrand_async, name), name


def test_nothing_private_is_exported() -> None:
    for name in PUBLIC:
        assert not name.startswith("_") or (name.startswith("__") and name.endswith("__")), name
        value = getattr(legrand_async, name)
        public_name = getattr(value, "__name__", name)
        assert not public_name.startswith("_") or public_name.startswith("__"), name


def test_model_names_shared_by_two_families_name_the_family() -> None:
    assert legrand_async.SmartherPlant is smarther.Plant
    assert legrand_async.SmartherTopology is smarther.Topology
    assert legrand_async.HomeControlPlant is home_control.Plant
    assert legrand_async.HomeControlTopology is home_control.Topology
    # the names of earlier releases stay importable, as aliases of the Smarther models
    from legrand_async import Plant, Topology

    assert Plant is legrand_async.SmartherPlant
    assert Topology is legrand_async.SmartherTopology
    assert "Plant" not in PUBLIC
    assert "Topology" not in PUBLIC
    shared = set(smarther.__all__) & set(home_control.__all__)
    assert shared == {"Plant", "Topology"}
    for name in shared:
        assert f"Smarther{name}" in PUBLIC
        assert f"HomeControl{name}" in PUBLIC
