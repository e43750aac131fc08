"""legrand_async: an asyncio client for the Legrand / BTicino developer cloud.

::

    from legrand_async import LegrandClient, SetStatus

    async with LegrandClient(subscription_key="...", access_token="...") as client:
        plants = await client.smarther.list_plants()
"""

from ._client import DEFAULT_BASE_URL, LegrandClient
from ._clock import Clock, SystemClock
from ._transport.retry import RetryPolicy
from ._version import __version__
from .errors import (
    APIError,
    AppPasswordExpired,
    BadRequest,
    Conflict,
    DeviceBusy,
    Forbidden,
    LegrandError,
    NotAcceptable,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RequestTimeout,
    ResponseValidationError,
    ServerError,
    TermsExpired,
    TransportError,
    Unauthorized,
    WrongInput,
)
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
    "BadRequest",
    "ChronothermostatStatus",
    "Clock",
    "Conflict",
    "DeviceBusy",
    "Forbidden",
    "Function",
    "LegrandClient",
    "LegrandError",
    "LoadState",
    "Measure",
    "Measures",
    "Mode",
    "Module",
    "NotAcceptable",
    "NotFound",
    "Plant",
    "Program",
    "QuotaExhausted",
    "RateLimited",
    "RequestTimeout",
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "SetStatus",
    "Subscription",
    "SystemClock",
    "TermsExpired",
    "Topology",
    "TransportError",
    "Unauthorized",
    "WrongInput",
    "__version__",
]
