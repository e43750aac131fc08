"""legrand_async: an asyncio client for the Legrand / BTicino developer cloud.

::

    from legrand_async import LegrandClient, SetStatus

    async with LegrandClient(subscription_key="...", access_token="...") as client:
        plants = await client.smarther.list_plants()
"""

from ._auth import (
    FileTokenStore,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    Token,
    TokenStore,
)
from ._client import DEFAULT_BASE_URL, LegrandClient
from ._clock import Clock, SystemClock
from ._poller import Change, Poller, StatusChange, ThermostatPoller
from ._transport.bounded import DEFAULT_MAX_BODY_SIZE
from ._transport.ratelimit import FileQuotaStore, Quota, QuotaStore, RateLimit
from ._transport.retry import DEFAULT_STATUSES, RetryPolicy, Stats
from ._version import __version__
from .errors import (
    APIError,
    AppPasswordExpired,
    AuthError,
    AuthorizationCodeExpired,
    BadRequest,
    ClientSecretExpired,
    Conflict,
    DeviceBusy,
    Forbidden,
    LegrandError,
    NotAcceptable,
    NotFound,
    QuotaExhausted,
    RateLimited,
    ReauthorizationRequired,
    RedirectUriMismatch,
    RequestTimeout,
    ResponseTooLarge,
    ResponseValidationError,
    ServerError,
    ServerQuotaExhausted,
    StateMismatch,
    TermsExpired,
    TokenRateLimited,
    TokenServerError,
    TransportError,
    Unauthorized,
    WrongInput,
)
from .models.door_entry import CallHomeTicket
from .models.home_control import ModuleKind, ModuleStatus
from .models.multisocket import SocketPlug
from .models.smarther import (
    ChronothermostatStatus,
    Function,
    LoadState,
    Measure,
    Measures,
    Mode,
    Module,
    Plant,
    Program,
    SetStatus,
    Subscription,
    Topology,
)

__all__ = [
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
    "FileQuotaStore",
    "FileTokenStore",
    "Forbidden",
    "Function",
    "LegrandClient",
    "LegrandError",
    "LoadState",
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
    "Plant",
    "Poller",
    "Program",
    "Quota",
    "QuotaExhausted",
    "QuotaStore",
    "RateLimit",
    "RateLimited",
    "ReauthorizationRequired",
    "RedirectUriMismatch",
    "RequestTimeout",
    "ResponseTooLarge",
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "ServerQuotaExhausted",
    "SetStatus",
    "SocketPlug",
    "StateMismatch",
    "Stats",
    "StatusChange",
    "Subscription",
    "SystemClock",
    "TermsExpired",
    "ThermostatPoller",
    "Token",
    "TokenRateLimited",
    "TokenServerError",
    "TokenStore",
    "Topology",
    "TransportError",
    "Unauthorized",
    "WrongInput",
    "__version__",
]
