"""ThermostatWatch: push first, polls as the safety net, one stream of changes."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Mapping
from contextlib import aclosing
from types import MappingProxyType, TracebackType
from typing import Final, Self

import anyio
import anyio.abc

from .._clock import Clock
from .._endpoints.smarther import SmartherAPI
from .._poller import Discovery, PollOptions, StatusChange
from .._transport.ratelimit import Limits
from ..errors import LegrandError
from ..models.smarther import SubscriptionRequest
from ..webhooks import ThermostatEvent, WebhookReceiver
from ._engine import Engine
from ._health import PushHealth

__all__ = ["ThermostatWatch"]

#: The event Event Grid sends when it deletes a subscription: the subscriptions are checked.
_DELETED: Final = "Microsoft.EventGrid.SubscriptionDeletedEvent"
#: Seconds (real time) that removing the subscriptions on exit may take at most.
_REMOVAL_TIMEOUT: Final = 30.0


class ThermostatWatch:
    """Follows every thermostat by push, polls what push does not cover; see
    :meth:`LegrandClient.watch_thermostats`. An async context manager, and inside it an async
    iterator of :class:`StatusChange` (``source`` ``"push"`` or ``"poll"``)."""

    def __init__(
        self,
        smarther: SmartherAPI,
        receiver: WebhookReceiver,
        url: str,
        *,
        clock: Clock,
        rate_limit: Limits | None,
        options: PollOptions,
        attempts: int,
        max_silence: float | None = None,
        remove_subscriptions: bool = False,
    ) -> None:
        if not isinstance(receiver, WebhookReceiver):
            raise TypeError(f"receiver must be a WebhookReceiver, got {type(receiver).__name__}")
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        SubscriptionRequest(url)  # https only, checked before any request
        if max_silence is not None and (
            isinstance(max_silence, bool)
            or not isinstance(max_silence, int | float)
            or not max_silence > 0
        ):
            raise ValueError(
                f"max_silence must be a positive number of seconds, got {max_silence!r}"
            )
        self._receiver = receiver
        self._remove = bool(remove_subscriptions)
        self._smarther = smarther
        self._buffer: deque[StatusChange] = deque()
        self._wakeup = anyio.Event()
        self._error: BaseException | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._closed = False
        self._engine = Engine(
            smarther,
            url,
            clock=clock,
            rate_limit=rate_limit,
            options=options,
            attempts=attempts,
            silence=float(max_silence) if max_silence is not None else None,
            emit=self._emit,
        )

    # ------------------------------------------------------------------------- what it knows

    @property
    def push_events(self) -> int:
        """Thermostat events taken from the receiver (repeats and older news included)."""
        return self._engine.push_events

    @property
    def polls(self) -> int:
        """Status reads made (checks of push included)."""
        return self._engine.polls

    @property
    def checks(self) -> int:
        """Of those, the low-rate reads that verify a plant's push."""
        return self._engine.checks

    @property
    def health(self) -> Mapping[str, PushHealth]:
        """Each plant's push, by plant id."""
        return MappingProxyType({p: s.snapshot(p) for p, s in self._engine.plants.items()})

    @property
    def calls_left(self) -> int | None:
        """Calls the watch may still make today (the reserve aside); None without a daily
        quota."""
        return self._engine.calls_left()

    @property
    def max_silence(self) -> float:
        """Seconds a thermostat may go unheard before it is polled (as now worked out)."""
        return self._engine.max_silence

    @property
    def targets(self) -> tuple[tuple[str, str], ...]:
        """The thermostats followed, as discovered so far."""
        return tuple(self._engine.targets)

    @property
    def discovery(self) -> Discovery:
        """Where the discovery stands (ids the server sent that cannot be used: ``skipped``)."""
        return self._engine.plan.snapshot()

    @property
    def skipped_events(self) -> int:
        """Push events whose plant or module id cannot be a thermostat's (dropped)."""
        return self._engine.skipped

    @property
    def dropped(self) -> tuple[int, int]:
        """``(older, repeats)``: states not yielded because older than what was, or the same."""
        return self._engine.ledger.stale, self._engine.ledger.repeats

    @property
    def errors(self) -> Mapping[str, int]:
        """Errors met and outlived, by class name."""
        return MappingProxyType(dict(self._engine.errors))

    @property
    def last_error(self) -> LegrandError | None:
        return self._engine.last_error

    def __repr__(self) -> str:
        healthy = sum(h.healthy for h in self.health.values())
        return (
            f"<ThermostatWatch targets={len(self._engine.targets)} push_events={self.push_events}"
            f" polls={self.polls} healthy={healthy}/{len(self._engine.plants)}>"
        )

    # --------------------------------------------------------------------------- the tasks

    def _emit(self, change: StatusChange) -> None:
        self._buffer.append(change)
        self._wakeup.set()

    async def _guarded(self, work: object) -> None:
        try:
            if work == "push":
                await self._push()
            else:
                await self._engine.run()
        except Exception as exc:  # needs the user (AuthError, Unauthorized) or a bug
            if self._error is None:
                self._error = exc
            self._wakeup.set()

    async def _push(self) -> None:
        async with aclosing(self._receiver.events()) as events:
            async for event in events:
                if isinstance(event, ThermostatEvent):
                    self._engine.pushed(event)
                elif event.event_type == _DELETED:  # Event Grid dropped a subscription
                    self._engine.nudge()

    async def __aenter__(self) -> Self:
        if self._group is not None or self._closed:
            raise RuntimeError("a watch is entered once")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        group.start_soon(self._guarded, "push", name="legrand_async watch push")
        group.start_soon(self._guarded, "poll", name="legrand_async watch poll")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        self._wakeup.set()
        group = self._group
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)
        if self._remove:
            await self._remove_subscriptions()

    async def _remove_subscriptions(self) -> None:
        """Unsubscribe what the watch ensured (a user's command: the reserve may pay)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(_REMOVAL_TIMEOUT):
            for plant, state in list(self._engine.plants.items()):
                sid = state.subscription_id
                if sid is None:
                    continue
                with contextlib.suppress(LegrandError, ValueError, TypeError):
                    await self._smarther.unsubscribe(plant, sid)
                    state.subscription_id = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StatusChange:
        if self._group is None:
            raise RuntimeError("iterate a watch inside `async with client.watch_thermostats(...)`")
        while not self._buffer:
            if self._error is not None:
                raise self._error
            if self._closed:
                raise StopAsyncIteration
            self._wakeup = anyio.Event()
            await self._wakeup.wait()
        return self._buffer.popleft()
