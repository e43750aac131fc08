"""C2C webhooks: parse Legrand's notifications and receive them without ever getting banned.

::

    from legrand_async.webhooks import WebhookReceiver, parse_notification

    receiver = WebhookReceiver(secret="long-random-string")   # an ASGI app
    # serve it (uvicorn, or mounted in your ASGI app), then subscribe
    # https://your.host/any/path/long-random-string with client.smarther.ensure_subscription().
    async for event in receiver.events():
        print(event.plant_id, event.module_id, event.status.mode)

Legrand bans an endpoint that answers slower than 750 ms or with a status >= 300, and cannot sign
its requests: the receiver acknowledges as soon as the body is read and parsed (the consumer never
delays it), and an unguessable secret at the end of the URL is the authentication.
"""

from __future__ import annotations

import hmac
import json
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, MutableMapping
from datetime import datetime
from typing import Any

import anyio
import attrs

from ._clock import Clock, SystemClock
from ._converters import structure, warm
from .errors import ResponseValidationError
from .models.smarther import CLOUD_PLANT_PREFIX, ChronothermostatStatus

__all__ = ["ThermostatEvent", "WebhookReceiver", "parse_notification", "validation_code"]

VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"


@attrs.frozen
class ThermostatEvent:
    """One thermostat's new status, pushed by Legrand."""

    plant_id: str | None
    module_id: str | None
    status: ChronothermostatStatus
    event_time: datetime | None = None
    event_id: str | None = None


def _invalid(path: str, problem: str) -> ResponseValidationError:
    return ResponseValidationError("the notification does not fit", errors=[f"{problem} @ {path}"])


def _load(body: bytes | str | Any) -> Any:
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("$", "not UTF-8") from None
    if isinstance(body, str):
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise _invalid("$", "not JSON") from None
    return body


def _items(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]


def validation_code(body: bytes | str | Any) -> str | None:
    """The code of an Event Grid subscription validation event in ``body``, if it is one."""
    return _validation_code(_load(body))


def _validation_code(data: Any) -> str | None:
    for item in _items(data):
        if isinstance(item, dict) and _event_type(item) == VALIDATION_EVENT:
            data = item.get("data")
            code = data.get("validationCode") if isinstance(data, dict) else None
            if isinstance(code, str) and code:
                return code
    return None


def _event_type(item: dict[str, Any]) -> str:
    """``eventType`` (Event Grid schema) or ``type`` (CloudEvents), lowercased."""
    return str(item.get("eventType", item.get("type", ""))).lower()


def _plant_id(item: dict[str, Any]) -> str | None:
    elements = item.get("subjectElements")
    candidate = elements.get("plantId") if isinstance(elements, dict) else None
    if not isinstance(candidate, str):
        subject = item.get("subject")
        parts = [p for p in subject.split("/") if p] if isinstance(subject, str) else []
        candidate = parts[0] if parts else None
    if isinstance(candidate, str) and candidate:
        return candidate.removeprefix(CLOUD_PLANT_PREFIX)
    return None


def _strip(plant_id: str | None) -> str | None:
    return plant_id.removeprefix(CLOUD_PLANT_PREFIX) if plant_id else None


def _time(value: Any, path: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid(path, "not a date-time")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(path, "not a date-time") from None


def parse_notification(body: bytes | str | Any) -> list[ThermostatEvent]:
    """The thermostat events in a C2C notification body (bytes, text, or parsed JSON).

    Accepts a JSON array of Event Grid events or a single object, with or without the ``data``
    envelope; validation events carry no status and are skipped. A malformed body raises
    ResponseValidationError naming the path of the problem.
    """
    return _events(_load(body))


def _events(data: Any) -> list[ThermostatEvent]:
    events: list[ThermostatEvent] = []
    for i, item in enumerate(_items(data)):
        where = f"$[{i}]" if isinstance(data, list) else "$"
        if not isinstance(item, dict):
            raise _invalid(where, "not an object")
        if _event_type(item) == VALIDATION_EVENT:
            continue
        payload = item.get("data", item)
        if isinstance(payload, str):  # an envelope that carries data as JSON text
            try:
                payload = json.loads(payload)
            except (ValueError, RecursionError):
                raise _invalid(f"{where}.data", "not JSON") from None
        if not isinstance(payload, dict):
            raise _invalid(f"{where}.data", "not an object")
        statuses = payload.get("chronothermostats")
        base = f"{where}.data" if "data" in item else where
        if not isinstance(statuses, list):
            raise _invalid(f"{base}.chronothermostats", "required list missing")
        event_id = item.get("id")
        time_key = "eventTime" if "eventTime" in item else "time"  # Event Grid or CloudEvents
        event_time = _time(item.get(time_key), f"{where}.{time_key}")
        for j, raw in enumerate(statuses):
            try:
                status = structure(raw, ChronothermostatStatus)
            except ResponseValidationError as exc:
                at = f"@ {base}.chronothermostats[{j}]"
                errors = [e.replace("@ $", at) for e in exc.errors]
                raise ResponseValidationError(
                    "the notification does not fit", errors=errors
                ) from None
            events.append(
                ThermostatEvent(
                    plant_id=_strip(status.plant_id) or _plant_id(item),
                    module_id=status.module_id,
                    status=status,
                    event_time=event_time,
                    event_id=event_id if isinstance(event_id, str) else None,
                )
            )
    return events


class WebhookReceiver:
    """An ASGI app receiving Legrand's C2C notifications; iterate :meth:`events` to consume them.

    - A request whose path does not end in ``secret`` gets 404; only POST is accepted (405).
    - Bodies over ``max_body`` bytes get 413, malformed ones 400 (and the app keeps running).
    - A validation event is answered with its code (as ``validationResponse`` and
      ``validationCode``: sources disagree on the name).
    - Other notifications are acknowledged with 200 ``{"result": 0}`` as soon as they are parsed;
      the events are queued for the consumer (never awaited). Duplicates (same event id within
      ``dedup_seconds``) are delivered once. The queue holds ``queue_size`` events: when it is
      full the oldest are dropped and counted in ``.dropped``.
    """

    def __init__(
        self,
        secret: str,
        *,
        max_body: int = 256 * 1024,
        queue_size: int = 1000,
        dedup_seconds: float = 600.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(secret, str) or len(secret) < 16 or "/" in secret:
            raise ValueError("secret must be a string of at least 16 characters without '/'")
        if queue_size < 1 or max_body < 1:
            raise ValueError("queue_size and max_body must be >= 1")
        self._secret = secret.encode()
        warm(ChronothermostatStatus)  # the first notification must not wait for code generation
        self.max_body = max_body
        self.dedup_seconds = dedup_seconds
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._queue: deque[ThermostatEvent] = deque(maxlen=queue_size)
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._arrived = anyio.Event()
        self.received = 0
        self.duplicates = 0
        self.dropped = 0
        self.rejected = 0

    def __repr__(self) -> str:
        return f"WebhookReceiver(secret='***', queued={len(self._queue)}, dropped={self.dropped})"

    async def events(self) -> AsyncGenerator[ThermostatEvent, None]:
        """The events as they arrive, oldest first (runs until cancelled)."""
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._arrived.is_set():  # only consumers renew it: an ack costs one set()
                self._arrived = anyio.Event()
            await self._arrived.wait()

    def _accept(self, events: list[ThermostatEvent]) -> None:
        now = self._clock.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - self.dedup_seconds:
            self._seen.popitem(last=False)
        for event in events:
            if event.event_id is not None:
                key = f"{event.event_id}/{event.module_id}"
                if key in self._seen:
                    self.duplicates += 1
                    continue
                self._seen[key] = now
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1  # the deque drops the oldest
            self._queue.append(event)
            self.received += 1
        self._arrived.set()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        status, body = await self._handle(scope, receive)
        if status >= 300:
            self.rejected += 1
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 405:
            headers.append((b"allow", b"POST"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: MutableMapping[str, Any], receive: Any) -> tuple[int, bytes]:
        path = scope.get("raw_path") or scope.get("path", "").encode()
        last = bytes(path).split(b"?", 1)[0].rstrip(b"/").rsplit(b"/", 1)[-1]
        if not hmac.compare_digest(last, self._secret):
            return 404, b'{"result":1,"message":"not found"}'
        if scope.get("method") != "POST":
            return 405, b'{"result":1,"message":"POST only"}'
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.isdigit() and int(value) > self.max_body:
                return 413, b'{"result":1,"message":"body too large"}'
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, b'{"result":1}'
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return 413, b'{"result":1,"message":"body too large"}'
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            data = _load(body)
            code = _validation_code(data)
            if code is not None:
                reply = {"validationResponse": code, "validationCode": code}
                return 200, json.dumps(reply).encode()
            events = _events(data)
        except ResponseValidationError:
            return 400, b'{"result":1,"message":"malformed notification"}'
        self._accept(events)
        return 200, b'{"result":0}'
