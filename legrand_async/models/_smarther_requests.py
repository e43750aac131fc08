"""Smarther v2.0 request bodies: ``SetStatus`` (checked before anything is sent) and
``SubscriptionRequest``. Import them from ``legrand_async.models.smarther``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import httpx

from .. import _checks
from ._smarther_status import Function, Mode

SETPOINT_RANGE = (3.0, 40.0)
PROGRAM_RANGE = (0, 11)
BOOST_MINUTES = (30, 60, 90)


def _https_url(_: object, __: object, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"endpoint_url must be a str, got {type(value).__name__}")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"endpoint_url is not a valid URL: {exc}") from None
    if url.scheme != "https" or not url.host:
        raise ValueError("endpoint_url must be an absolute https:// URL (Legrand only calls https)")


@attrs.frozen
class SubscriptionRequest:
    """Body of *Subscribe to C2C notifications*."""

    endpoint_url: str = attrs.field(validator=_https_url)


def _check_setpoint(_: object, __: object, value: float | None) -> None:
    if value is None:
        return
    low, high = SETPOINT_RANGE
    _checks.real("setpoint", value, minimum=low, maximum=high, unit=" °C")


def _check_program(_: object, __: object, value: int | None) -> None:
    if value is None:
        return
    low, high = PROGRAM_RANGE
    _checks.count("program", value, minimum=low, maximum=high)


#: The wall times a status can carry: ``YYYY`` has four digits, and converting to local time
#: (or adding a boost's minutes) cannot leave the datetime range.
WIRE_TIME_RANGE = (datetime(1000, 1, 2), datetime.max - timedelta(days=2))


def check_wire_time(name: str, value: object) -> datetime:
    """``value`` if it is a datetime the wire can carry, else TypeError / ValueError."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    low, high = WIRE_TIME_RANGE
    if not low <= value.replace(tzinfo=None) <= high:
        raise ValueError(
            f"{name} must be between {low:%Y-%m-%d} and {high:%Y-%m-%d}, got {value.isoformat()}"
        )
    return value


def _check_time(_: object, attribute: attrs.Attribute[datetime | None], value: object) -> None:
    if value is not None:
        check_wire_time(attribute.name, value)


@attrs.frozen
class SetStatus:
    """A new status for a chronothermostat; build it with the class methods.

    ``until`` and ``start`` are sent as the device's local time (``YYYY-MM-DDThh:mm:ss``): naive
    datetimes as they are, aware ones converted to this machine's local time zone first.
    """

    function: Function
    mode: Mode
    setpoint: float | None = attrs.field(default=None, validator=_check_setpoint)
    program: int | None = attrs.field(default=None, validator=_check_program)
    start: datetime | None = attrs.field(default=None, validator=_check_time)
    until: datetime | None = attrs.field(default=None, validator=_check_time)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.function, Function) or self.function is Function.UNKNOWN:
            raise ValueError(f"function must be HEATING or COOLING, got {self.function!r}")
        if not isinstance(self.mode, Mode) or self.mode is Mode.UNKNOWN:
            raise ValueError(f"mode must be a known Mode, got {self.mode!r}")
        if (self.setpoint is not None) != (self.mode is Mode.MANUAL):
            raise ValueError("a setpoint goes with manual mode, and only with it")
        if (self.program is not None) != (self.mode is Mode.AUTOMATIC):
            raise ValueError("a program goes with automatic mode, and only with it")
        if self.mode is Mode.BOOST:
            if self.start is None or self.until is None:
                raise ValueError("boost needs a start and an end")
            if self.until - self.start not in _BOOST_DURATIONS:
                raise ValueError(f"boost lasts 30, 60 or 90 minutes, got {self.until - self.start}")
        elif self.start is not None:
            raise ValueError("only boost takes a start time")

    @classmethod
    def automatic(cls, program: int = 0, *, function: Function = Function.HEATING) -> SetStatus:
        """Follow weekly program ``program`` (0..11)."""
        if program is None:
            raise TypeError("program must be an int, got NoneType")
        return cls(function=function, mode=Mode.AUTOMATIC, program=program)

    @classmethod
    def manual(
        cls,
        setpoint: float,
        *,
        until: datetime | None = None,
        function: Function = Function.HEATING,
    ) -> SetStatus:
        """Hold ``setpoint`` °C (3..40) until ``until``, or forever."""
        if setpoint is None:
            raise TypeError("setpoint must be a number, got NoneType")
        return cls(function=function, mode=Mode.MANUAL, setpoint=setpoint, until=until)

    @classmethod
    def boost(
        cls,
        minutes: int,
        *,
        function: Function = Function.HEATING,
        start: datetime | None = None,
    ) -> SetStatus:
        """Boost for 30, 60 or 90 minutes from ``start`` (default: now, local time)."""
        if isinstance(minutes, bool) or minutes not in BOOST_MINUTES:
            raise ValueError(f"boost lasts 30, 60 or 90 minutes, got {minutes!r}")
        if start is None:
            start = datetime.now()
        elif check_wire_time("start", start).tzinfo is not None:
            start = start.astimezone(UTC)  # add the minutes on an absolute scale (DST)
        begin = start.replace(microsecond=0)
        return cls(
            function=function,
            mode=Mode.BOOST,
            start=begin,
            until=begin + timedelta(minutes=minutes),
        )

    @classmethod
    def off(
        cls, *, until: datetime | None = None, function: Function = Function.HEATING
    ) -> SetStatus:
        """Switch off until ``until``, or forever."""
        return cls(function=function, mode=Mode.OFF, until=until)

    @classmethod
    def protection(
        cls, *, until: datetime | None = None, function: Function = Function.HEATING
    ) -> SetStatus:
        """Antifreeze (heating) or heat protection (cooling) until ``until``, or forever."""
        return cls(function=function, mode=Mode.PROTECTION, until=until)


_BOOST_DURATIONS = frozenset(timedelta(minutes=m) for m in BOOST_MINUTES)
