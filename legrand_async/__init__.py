"""legrand_async: an asyncio client for the Legrand / BTicino developer cloud.

::

    from legrand_async import LegrandClient, SetStatus

    async with LegrandClient(subscription_key="...", access_token="...") as client:
        plants = await client.smarther.list_plants()
"""

from ._auth import (
    FileTokenStore,
    LockingTokenStore,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    Token,
    TokenStore,
)
from ._client import DEFAULT_BASE_URL, LegrandClient
from ._clock import Clock, SystemClock
from ._poller import Change, Poller, StatusChange, ThermostatPoller
from ._transport.ratelimit import FileQuotaStore, Quota, QuotaStore, RateLimit, SharedQuotaStore
from ._transport.retry import RetryPolicy, Stats
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
    InvalidTokenResponse,
    LegrandError,
    NotAcceptable,
    NotFound,
    QuotaExhausted,
    RateLimited,
    ReauthorizationRequired,
    RedirectUriMismatch,
    RequestTimeout,
    ResponseValidationError,
    ServerError,
    StateMismatch,
    TermsExpired,
    TokenRateLimited,
    TokenRefreshTimeout,
    TokenServerError,
    TokenStoreError,
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
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "SetStatus",
    "SharedQuotaStore",
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
    "TokenRefreshTimeout",
    "TokenServerError",
    "TokenStore",
    "TokenStoreError",
    "Topology",
    "TransportError",
    "Unauthorized",
    "WrongInput",
    "__version__",
]
