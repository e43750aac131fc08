"""C2C webhooks: receive Legrand's deliveries without ever getting banned, and parse them.

::

    from legrand_async.webhooks import ThermostatEvent, WebhookReceiver

    receiver = WebhookReceiver(secret="long-random-string")   # an ASGI app
    # serve it (uvicorn, or mounted in your ASGI app), then subscribe
    # https://your.host/any/path/long-random-string with client.smarther.ensure_subscription().
    async for event in receiver.events():
        if isinstance(event, ThermostatEvent):
            print(event.plant_id, event.module_id, event.status.mode)

Legrand bans an endpoint that answers slower than 750 ms or with a status >= 300, and cannot sign
its requests. So the receiver answers 2xx to every well-formed delivery, whatever it holds, as
soon as it has checked the secret at the end of the path and that the body is a JSON array or
object of events; it reads the events into models only when the consumer takes them.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, MutableMapping
from typing import Any

import anyio

from . import _checks
from ._ack import AckReader, code_of
from ._clock import Clock
from ._converters import warm
from ._deadline import Deadlines
from ._notifications import (
    OtherEvent,
    ThermostatEvent,
    WebhookEvent,
    event_items,
    load,
    other_event,
    parse_notification,
    read_event,
    validation_code,
)
from ._webhook_queue import EventQueue, Window
from .errors import ResponseValidationError
from .models.smarther import ChronothermostatStatus

__all__ = [
    "OtherEvent",
    "ThermostatEvent",
    "WebhookEvent",
    "WebhookReceiver",
    "parse_notification",
    "validation_code",
]

_OK = b'{"result":0}'
_OK_LENGTH = (b"content-length", b"%d" % len(_OK))
_JSON = (b"content-type", b"application/json")
_REFUSALS = {
    400: b'{"result":1,"message":"not an Event Grid delivery"}',
    404: b'{"result":1,"message":"not found"}',
    405: b'{"result":1,"message":"POST only (OPTIONS for the CloudEvents handshake)"}',
    408: b'{"result":1,"message":"the body took too long"}',
    413: b'{"result":1,"message":"body too large"}',
    503: b'{"result":1,"message":"too many uploads in progress"}',
}


_ALLOW = (b"allow", b"POST, OPTIONS")
_GONE = 0  # the client went away before its body was complete: refused without an answer
#: An origin echoed in the CloudEvents handshake's answer (a host name); any other gets "*".
_ORIGIN = re.compile(rb"[A-Za-z0-9.:-]{1,253}")
#: The most digits (leading zeros aside) a Content-Length is converted with; more is too large.
_LENGTH_DIGITS = 18


def _validation_answer(code: str) -> bytes:
    """The handshake's answer: the code under both names the sources give."""
    return json.dumps({"validationResponse": code, "validationCode": code}).encode()


def _check_secret(secret: object) -> bytes:
    if not isinstance(secret, str):
        raise TypeError(f"secret must be a str, got {type(secret).__name__}")
    if len(secret) < 16 or "/" in secret:
        raise ValueError("secret must be a string of at least 16 characters without '/'")
    try:
        return secret.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("secret must be text that UTF-8 can encode (no lone surrogates)") from None


class WebhookReceiver:
    """An ASGI app receiving Legrand's C2C deliveries; iterate :meth:`events` to consume them.

    - The path must end in ``secret`` (compared percent-decoded, in constant time), else 404;
      deliveries are POSTed, OPTIONS is CloudEvents' handshake (answered 200), else 405.
    - Every JSON array or object of events is acknowledged 200: thermostat notifications,
      Event Grid's validation handshake (answered with its code), and events the library does
      not model, which reach the consumer as :class:`OtherEvent` (counted in ``.other``).
      400 is for bodies that are not JSON or not events at all.
    - Bounded: a body over ``max_body`` bytes gets 413, one not complete within
      ``read_timeout`` seconds 408, and uploads in progress hold at most ``max_buffered`` bytes
      together (past that 503). The queue holds ``queue_size`` events and ``queue_bytes`` bytes
      of their bodies (past either the oldest are dropped and counted in ``.dropped``); an event
      id seen in the last ``dedup_seconds`` (among the last ``dedup_size`` ids) is not queued
      again (``.duplicates``).
    - The consumer never delays an answer: events are read into models when it takes them.
    """

    def __init__(
        self,
        secret: str,
        *,
        max_body: int = 256 * 1024,
        queue_size: int = 1000,
        queue_bytes: int = 16 * 1024 * 1024,
        dedup_seconds: float = 600.0,
        dedup_size: int = 10_000,
        read_timeout: float = 5.0,
        max_buffered: int = 4 * 1024 * 1024,
        clock: Clock | None = None,
    ) -> None:
        self._secret = _check_secret(secret)
        self.max_body = _checks.count("max_body", max_body)
        self.max_buffered = _checks.count("max_buffered", max_buffered, minimum=self.max_body)
        self._deadlines = Deadlines(
            float(_checks.positive("read_timeout", read_timeout, unit=" seconds"))
        )
        dedup = Window(
            _checks.count("dedup_size", dedup_size),
            float(_checks.non_negative("dedup_seconds", dedup_seconds, unit=" seconds")),
        )
        self._queue = EventQueue(
            _checks.count("queue_size", queue_size),
            _checks.count("queue_bytes", queue_bytes, minimum=self.max_body),
            dedup,
            clock.monotonic if clock is not None else time.monotonic,
        )
        self._parsed: tuple[bytes, list[dict[str, Any]]] = (b"", [])  # the consumer's last body
        self._pending: deque[WebhookEvent] = deque()
        self._reader = AckReader()
        warm(ChronothermostatStatus)  # the first event taken must not wait for code generation
        self._wakeup: anyio.Event | None = None  # what waiting consumers wait on
        self._buffered = 0
        self.invalid = 0
        self.rejected = 0

    @property
    def read_timeout(self) -> float:
        """Seconds a request body may take to arrive (then 408)."""
        return self._deadlines.seconds

    @property
    def dedup_seconds(self) -> float:
        """How long an event id is remembered to drop its duplicates."""
        return self._queue.dedup.seconds

    @property
    def queue_size(self) -> int:
        """The most events waiting for the consumer."""
        return self._queue.size

    @property
    def queue_bytes(self) -> int:
        """The most bytes of bodies the waiting events may be in."""
        return self._queue.max_bytes

    @property
    def queued(self) -> int:
        """Deliveries' events waiting for the consumer (at most ``queue_size``)."""
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        """Bytes of the bodies the queued events are in (at most ``queue_bytes``)."""
        return self._queue.bytes

    @property
    def received(self) -> int:
        """Events queued for the consumer (duplicates aside), since the start."""
        return self._queue.counts()[0]

    @property
    def other(self) -> int:
        """Of those, events that are not thermostat notifications (:class:`OtherEvent`)."""
        return self._queue.counts()[1]

    @property
    def duplicates(self) -> int:
        """Events not queued because their id was seen within ``dedup_seconds``."""
        return self._queue.counts()[2]

    @property
    def dropped(self) -> int:
        """Queued events dropped, oldest first, to stay within the queue's bounds."""
        return self._queue.counts()[3]

    @property
    def buffered(self) -> int:
        """Bytes held by uploads in progress (at most ``max_buffered``)."""
        return self._buffered

    def __repr__(self) -> str:
        return (
            f"WebhookReceiver(secret='***', queued={self.queued}, "
            f"received={self.received}, dropped={self.dropped}, rejected={self.rejected})"
        )

    async def events(self) -> AsyncGenerator[WebhookEvent, None]:
        """The events as they arrive, oldest first (runs until cancelled).

        :class:`ThermostatEvent` for each thermostat status, :class:`OtherEvent` for the rest.
        """
        pending = self._pending  # read from a body, not yet taken: kept for the next consumer
        while True:
            if pending:
                yield pending.popleft()
                continue
            event = self._queue.take()
            if event is not None:
                pending.extend(self._read(*event))
                continue
            if self._wakeup is None:  # an ack costs one attribute read unless one waits
                self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def _read(self, body: bytes, index: int) -> list[WebhookEvent]:
        if self._parsed[0] is not body:
            self._parsed = (body, event_items(load(body)))  # it was read when acknowledged
        item = self._parsed[1][index]
        try:
            return read_event(item)
        except ResponseValidationError as exc:
            self.invalid += 1
            return [other_event(item, problem="; ".join(exc.errors))]

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        refused = self._refusal(scope)
        if refused:
            return await self._refuse(send, refused)
        if scope["method"] == "OPTIONS":
            return await self._allow_delivery(scope, send)
        with self._deadlines.start() as deadline:  # only what the answer needs from here on
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body: bytes | int = bytes(message.get("body", b""))  # all at once: usual
            elif self._declared_too_large(scope):
                body = 413  # refused before reading the rest
            else:
                body = await self._chunks(message, receive)
        if deadline.expired:
            body = 408
        elif not isinstance(body, int) and len(body) > self.max_body:
            body = 413
        if isinstance(body, int):
            return await self._refuse(send, body)
        found = self._reader.read(body)
        if found is None:
            return await self._refuse(send, 400)
        self._queue.arrive(body, found)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()
        code = code_of(found)
        if code is None:
            answer, headers = _OK, [_JSON, _OK_LENGTH]
        else:
            answer = _validation_answer(code)
            headers = [_JSON, (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def _refusal(self, scope: MutableMapping[str, Any]) -> int:
        """The status refusing a request from its scope alone, or 0 (POST and OPTIONS)."""
        last = scope.get("path", "").rstrip("/").rpartition("/")[2]
        if not hmac.compare_digest(last.encode("utf-8", "surrogatepass"), self._secret):
            return 404
        method = scope.get("method")
        return 0 if method == "POST" or method == "OPTIONS" else 405

    def _declared_too_large(self, scope: MutableMapping[str, Any]) -> bool:
        """Whether ``Content-Length`` says more than ``max_body`` (any number of digits)."""
        for name, value in scope.get("headers", ()):
            if name == b"content-length":  # ASGI servers send header names in lowercase
                if not value.isdigit():
                    return False  # the server's to refuse
                digits = value.lstrip(b"0")
                return len(digits) > _LENGTH_DIGITS or int(digits or b"0") > self.max_body
        return False

    async def _allow_delivery(self, scope: MutableMapping[str, Any], send: Any) -> None:
        """The CloudEvents webhook handshake (HTTP OPTIONS): deliveries from the origin asked
        about are allowed, at any rate."""
        origin = b"*"
        for name, value in scope.get("headers", ()):
            if name == b"webhook-request-origin" and _ORIGIN.fullmatch(value):
                origin = value
        headers = [
            (b"webhook-allowed-origin", origin),
            (b"webhook-allowed-rate", b"*"),
            _ALLOW,
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse(self, send: Any, status: int) -> None:
        self.rejected += 1
        if status == _GONE:
            return  # nobody to answer (and ASGI servers may raise on a send)
        body = _REFUSALS[status]
        headers = [_JSON, (b"content-length", b"%d" % len(body))]
        if status == 405:
            headers.append(_ALLOW)
        elif status in (408, 413, 503):
            headers.append((b"connection", b"close"))  # the rest of the body is not read
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _lifespan(receive: Any, send: Any) -> None:
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    async def _chunks(self, message: dict[str, Any], receive: Any) -> bytes | int:
        """The body sent in several messages, from ``message`` on."""
        chunks: list[bytes] = []
        size = held = 0  # held: bytes kept across awaits, counted in self._buffered
        try:
            while True:
                if message["type"] != "http.request":
                    return _GONE  # the client went away
                chunk = bytes(message.get("body", b""))
                size += len(chunk)
                if size > self.max_body:
                    return 413
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)  # at most max_body
                if self._buffered + len(chunk) > self.max_buffered:
                    return 503
                self._buffered += len(chunk)
                held += len(chunk)
                message = await receive()
        finally:
            self._buffered -= held
