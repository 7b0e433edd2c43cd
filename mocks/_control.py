"""Test control shared by every agency mock: fault injection, a delivery log and the ``/_control/`` routes.

An adapter is only as good as the failures it has met. The fault injector makes a mock fail the way agency links
fail in production (slow answers, 5xx, a proxy's HTML error page, truncated JSON, 429, a reset connection, a
request that hangs past every client timeout) at rates a test sets with ``PUT /_control/faults``. The delivery
log counts what the agency really processed, so a test can prove that a retried submission arrived once.

Faults strike agency routes only: the control routes must keep answering while the "agency" is down. Draws come
from a seeded ``random.Random``, so after ``POST /_control/reset`` the same requests meet the same faults.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, Any, Self

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._population import STATUSES, Population, Status

__all__ = [
    "CONTROL_KEY",
    "CONTROL_PREFIX",
    "Control",
    "DeliveryLog",
    "Fault",
    "FaultInjector",
    "FaultSettings",
    "json_response",
]

CONTROL_PREFIX = "/_control/"
"""Paths under this prefix are the test's, not the agency's: never faulted, never counted."""

_BAD_GATEWAY_HTML = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


def json_response(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response serialised with orjson (the mocks' one JSON encoder)."""
    return web.Response(body=orjson.dumps(data), status=status, headers=headers, content_type="application/json")


class Fault(StrEnum):
    """The ways a request can go wrong, in the order the injector's draw checks them."""

    RESET = "reset"
    TIMEOUT = "timeout"
    ERROR = "error"
    HTML = "html"
    MALFORMED = "malformed"
    RATE_LIMIT = "rate_limit"


class FaultSettings(BaseModel):
    """What goes wrong and how often. Rates are per agency request and add up to at most 1 (one fault each)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    error_rate: Rate = 0.0
    error_status: int = Field(503, ge=500, le=599)
    latency_ms: int = Field(0, ge=0, le=60_000)
    timeout_rate: Rate = 0.0
    timeout_s: float = Field(30.0, gt=0, le=600)
    reset_rate: Rate = 0.0
    malformed_rate: Rate = 0.0
    html_rate: Rate = 0.0
    rate_limit_rate: Rate = 0.0
    retry_after_s: int = Field(1, ge=0, le=3600)
    drop_after_processing: bool = False
    """Resets and timeouts strike after the agency did the work: the outcome is ambiguous to the client."""

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        if sum(rate for _, rate in self.rates()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1")
        return self

    def rates(self) -> tuple[tuple[Fault, float], ...]:
        """Each fault with its rate, in draw order."""
        return (
            (Fault.RESET, self.reset_rate),
            (Fault.TIMEOUT, self.timeout_rate),
            (Fault.ERROR, self.error_rate),
            (Fault.HTML, self.html_rate),
            (Fault.MALFORMED, self.malformed_rate),
            (Fault.RATE_LIMIT, self.rate_limit_rate),
        )


class FaultInjector:
    """Draws faults with a seeded generator and applies them as aiohttp middleware on agency routes."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._settings = FaultSettings()
        self._held: set[asyncio.Future[None]] = set()

    @property
    def settings(self) -> FaultSettings:
        """The current settings."""
        return self._settings

    def configure(self, changes: Mapping[str, Any]) -> FaultSettings:
        """Apply a partial update; raise pydantic's ``ValidationError`` and keep the old state if it is invalid."""
        self._settings = FaultSettings.model_validate({**self._settings.model_dump(), **changes})
        return self._settings

    def reset(self) -> None:
        """All faults off, the draw sequence back to its start, held requests let go."""
        self._settings = FaultSettings()
        self._rng = random.Random(self._seed)
        self.release_held()

    def draw(self) -> Fault | None:
        """The fault for the next agency request, if any. Draws on every request so sequences replay exactly."""
        roll = self._rng.random()
        for fault, rate in self._settings.rates():
            if roll < rate:
                return fault
            roll -= rate
        return None

    @property
    def held(self) -> int:
        """How many requests a timeout fault is holding right now."""
        return len(self._held)

    def release_held(self) -> None:
        """End every request held by a timeout fault now (their connections are dropped), e.g. at shutdown."""
        for waiter in list(self._held):
            if not waiter.done():
                waiter.set_result(None)

    @property
    def middleware(self) -> Middleware:
        """The aiohttp middleware that applies the faults."""
        return self._middleware

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        settings = self._settings
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        fault = self.draw()
        if fault is None:
            return await handler(request)
        if fault is Fault.MALFORMED:
            return _truncated(await handler(request))
        if fault in (Fault.RESET, Fault.TIMEOUT) and settings.drop_after_processing:
            await handler(request)
        if fault is Fault.RESET:
            return _drop_connection(request)
        if fault is Fault.TIMEOUT:
            return await self._hold(request, settings.timeout_s)
        if fault is Fault.HTML:
            return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
        if fault is Fault.RATE_LIMIT:
            headers = {"Retry-After": str(settings.retry_after_s)}
            return json_response({"message": "API rate limit exceeded"}, status=429, headers=headers)
        try:
            phrase = HTTPStatus(settings.error_status).phrase
        except ValueError:
            phrase = "Server Error"
        return web.Response(status=settings.error_status, text=phrase)

    async def _hold(self, request: web.Request, seconds: float) -> web.StreamResponse:
        # Waiting on a future (not a bare sleep) lets shutdown and reset end the hold at once; a client that
        # gives up closes the connection, and the runner's handler cancellation ends it too.
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, seconds)
        finally:
            self._held.discard(waiter)
        return _drop_connection(request)


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Abort the TCP connection with a RST, so the client sees a reset, not an answer or a clean close."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=204)  # never reaches the wire: aiohttp drops writes to an aborted transport


def _truncated(response: web.StreamResponse) -> web.Response:
    """The handler's answer cut in half: status 200, JSON content type, body that no parser accepts."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes) or len(body) < 2:
        body = b'{"content": [{"'
    return web.Response(status=200, body=body[: len(body) // 2], content_type="application/json")


class DeliveryLog:
    """Counts of requests an agency mock really processed, per method and per reference."""

    def __init__(self) -> None:
        self._by_method: Counter[str] = Counter()
        self._by_reference: Counter[str] = Counter()

    def record(self, method: str, reference: str | None = None) -> None:
        """Count one processed request."""
        self._by_method[method] += 1
        if reference is not None:
            self._by_reference[reference] += 1

    def count(self, method: str | None = None, *, reference: str | None = None) -> int:
        """Deliveries of ``method`` (all methods when ``None``), or of ``reference`` when given."""
        if reference is not None:
            return self._by_reference[reference]
        return self._by_method[method] if method is not None else self._by_method.total()

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON-ready data."""
        return {
            "total": self._by_method.total(),
            "by_method": dict(self._by_method),
            "by_reference": dict(self._by_reference),
        }

    def clear(self) -> None:
        """Back to zero."""
        self._by_method.clear()
        self._by_reference.clear()


class Control:
    """One mock's test controls: its fault injector, delivery log and ``/_control/`` routes."""

    def __init__(self, agency: str, population: Population, *, seed: int = 0) -> None:
        self.agency = agency
        self.population = population
        self.faults = FaultInjector(seed)
        self.deliveries = DeliveryLog()
        #: The W3C ``traceparent`` headers agency calls arrived with, newest last, so tests can follow a trace.
        self.traceparents: collections.deque[str] = collections.deque(maxlen=1000)
        self._on_reset: list[Callable[[], None]] = []
        self._quota_setters: list[Callable[[int], None]] = []

    def record_delivery(self, method: str, reference: str | None = None) -> None:
        """Called by the mock for each request it really processed."""
        self.deliveries.record(method, reference)

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Register agency state (a quota, stored submissions) to restore on reset."""
        self._on_reset.append(callback)

    def on_quota(self, setter: Callable[[int], None]) -> None:
        """Register the agency's quota, so ``PUT /_control/quota`` can exhaust or refill it."""
        self._quota_setters.append(setter)

    def reset(self) -> None:
        """Faults off, counters zero, agency state restored."""
        self.faults.reset()
        self.deliveries.clear()
        self.traceparents.clear()
        for callback in self._on_reset:
            callback()

    def install(self, app: web.Application) -> None:
        """Mount the control routes and the fault middleware on ``app`` (before it starts)."""
        app[CONTROL_KEY] = self
        app.middlewares.append(self._trace_middleware)
        app.middlewares.append(self.faults.middleware)
        app.on_shutdown.append(self._shutdown)
        p = CONTROL_PREFIX
        app.router.add_routes([
            web.get(p + "health", self._health),
            web.get(p + "citizens", self._citizens),
            web.get(p + "faults", self._get_faults),
            web.put(p + "faults", self._put_faults),
            web.get(p + "deliveries", self._get_deliveries),
            web.get(p + "traceparents", self._get_traceparents),
            web.put(p + "quota", self._put_quota),
            web.post(p + "reset", self._reset),
        ])

    @web.middleware
    async def _trace_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(CONTROL_PREFIX) and "traceparent" in request.headers:
            self.traceparents.append(request.headers["traceparent"])
        return await handler(request)

    async def _put_quota(self, request: web.Request) -> web.Response:
        if not self._quota_setters:
            return json_response({"message": f"{self.agency} has no quota"}, status=404)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        remaining = body.get("remaining") if isinstance(body, dict) else None
        if not isinstance(remaining, int) or isinstance(remaining, bool) or remaining < 0:
            return _unprocessable("'remaining' must be a whole number of calls, 0 or more")
        for setter in self._quota_setters:
            setter(remaining)
        return json_response({"remaining": remaining})

    async def _get_traceparents(self, request: web.Request) -> web.Response:
        return json_response({"traceparents": list(self.traceparents)})

    async def _shutdown(self, app: web.Application) -> None:
        self.faults.release_held()

    async def _health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok", "agency": self.agency})

    async def _citizens(self, request: web.Request) -> web.Response:
        # Full NIKs on purpose: this list is how a tester picks synthetic people to send to the agency routes.
        query = request.query
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            return _unprocessable(f"status must be one of {', '.join(STATUSES)}")
        raw_duplicate = query.get("duplicate", "").lower()
        if raw_duplicate not in ("", "true", "false"):
            return _unprocessable("duplicate must be true or false")
        duplicate = None if not raw_duplicate else raw_duplicate == "true"
        raw_member = query.get("member", "").lower()
        if raw_member not in ("", "true", "false"):
            return _unprocessable("member must be true or false")
        member = None if not raw_member else raw_member == "true"
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return _unprocessable("limit must be an integer from 1 to 1000")
        ages: dict[str, int] = {}
        for bound in ("min_age", "max_age"):
            if bound in query:
                try:
                    ages[bound] = int(query[bound])
                except ValueError:
                    return _unprocessable(f"{bound} must be a whole number of years")
        chosen = self.population.sample(_as_status(status), duplicate=duplicate, limit=limit, member=member, **ages)
        return json_response({"count": len(chosen), "citizens": [c.as_dict() for c in chosen]})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return json_response(self.faults.settings.model_dump())

    async def _put_faults(self, request: web.Request) -> web.Response:
        try:
            changes = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _unprocessable("body must be a JSON object")
        if not isinstance(changes, dict):
            return _unprocessable("body must be a JSON object")
        try:
            settings = self.faults.configure(changes)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return _unprocessable("invalid fault settings", errors)
        return json_response(settings.model_dump())

    async def _get_deliveries(self, request: web.Request) -> web.Response:
        return json_response(self.deliveries.snapshot())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return json_response({"faults": self.faults.settings.model_dump(), "deliveries": self.deliveries.snapshot()})


def _as_status(value: str | None) -> Status | None:
    for status in STATUSES:
        if value == status:
            return status
    return None


def _unprocessable(message: str, errors: list[Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=422)


CONTROL_KEY = web.AppKey("mocks.control", Control)
"""Where :meth:`Control.install` puts the control object on the app."""
