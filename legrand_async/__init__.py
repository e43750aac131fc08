"""legrand_async: an asyncio client for the Legrand / BTicino developer cloud.

::

    from legrand_async import LegrandClient, SetStatus

    async with LegrandClient(subscription_key="...", access_token="...") as client:
        plants = await client.smarther.list_plants()

Where two API families have a model of the same name, the family is in the exported name:
``SmartherPlant``, ``SmartherTopology``, ``HomeControlPlant``, ``HomeControlTopology``.
``Plant`` and ``Topology`` are kept as aliases of ``SmartherPlant`` and ``SmartherTopology``
(what earlier releases exported). Every model is also in ``legrand_async.models.<family>``
under its own name.
"""

from ._auth import (
    FileTokenStore,
    LockingTokenStore,
    MemoryTokenStore,
    OAuth2Auth,
    OAuthApp,
    StaticToken,
    Token,
    TokenStore,
)
from ._client import DEFAULT_BASE_URL, LegrandClient
from ._clock import Clock, SystemClock
from ._poller import Change, Discovery, Poller, PollOptions, StatusChange, ThermostatPoller
from ._transport.bounded import DEFAULT_MAX_BODY_SIZE
from ._transport.ratelimit import (
    FileQuotaStore,
    Quota,
    QuotaStore,
    RateLimit,
    RateLimits,
    SharedQuotaStore,
)
from ._transport.retry import DEFAULT_STATUSES, RetryPolicy, Stats
from ._version import __version__
from ._watch import PushHealth, ThermostatWatch
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
    QuotaStoreUnavailable,
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
    TokenRefreshTimeout,
    TokenServerError,
    TokenStoreError,
    TransportError,
    Unauthorized,
    WrongInput,
)
from .models.door_entry import CallHomeTicket
from .models.home_control import ModuleKind, ModuleStatus
from .models.home_control import Plant as HomeControlPlant
from .models.home_control import Topology as HomeControlTopology
from .models.multisocket import SocketPlug
from .models.smarther import (
    ChronothermostatStatus,
    Function,
    LoadState,
    Measure,
    Measures,
    Mode,
    Module,
    Program,
    SetStatus,
    Subscription,
)
from .models.smarther import Plant as SmartherPlant
from .models.smarther import Topology as SmartherTopology

#: Aliases kept from the releases before issue 14: the Smarther models of those names.
Plant = SmartherPlant
Topology = SmartherTopology

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
