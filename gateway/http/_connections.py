"""Inbound connections and event streams: how many, from whom, and how long a request may take to arrive.

A connection costs a file descriptor until it closes, and the gateway needs descriptors of its own for every call
to an agency and for the store. So:

* a request's headers must arrive within ``http_header_timeout_seconds`` of the connection opening (or of their
  first byte, on a kept-alive connection), and its body within ``http_body_timeout_seconds`` of the headers. Past
  the header timeout the gateway answers a bare ``408`` and closes; past the body timeout the handler reading the
  body answers a ``request-timeout`` problem (``408``), or, if none is reading it, the connection is closed;
* connections are counted per client address and in all (:class:`ConnectionGuard`). Past either cap the new
  connection gets ``503`` with ``Retry-After: 1``, ``Connection: close`` and a ``too-many-connections`` problem,
  written before anything is read, and is closed; no request on it reaches the application. The total cap is
  derived from the process's descriptor limit less a reserve (:func:`connection_limits`), so a flood leaves
  descriptors for outbound calls and the store;
* failed ``accept()`` calls (no descriptor left, ``EMFILE``) and refused connections are logged as one line per
  interval with a count (:class:`CountedLog`), never a traceback each;
* event streams are counted per client and in all by the :class:`~gateway.dispatch.EventHub`
  (:func:`claim_event_stream`).

The protocol pieces (:class:`GuardedServer`, :class:`GuardedHandler`) subclass aiohttp's; the runner that uses
them is ``gateway.cli.GatewayRunner``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import resource
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from ..config import Settings
from ..dispatch import EventHub, StreamLimitReached
from ..problems import DEFAULT_PROBLEMS, ApiProblem

__all__ = [
    "CONNECTIONS",
    "OUTBOUND_RESERVE",
    "AcceptErrorLog",
    "ConnectionGuard",
    "ConnectionLimits",
    "ConnectionPolicy",
    "CountedLog",
    "GuardedHandler",
    "GuardedServer",
    "claim_event_stream",
    "connection_limits",
]

log = structlog.get_logger("gateway.http")

#: Descriptors kept for the outbound transport's pool (``build_transport``'s connection limit).
OUTBOUND_RESERVE = 256
#: Descriptors kept besides: listening sockets, the event loop, the store's files, log files, DNS, the metrics dir.
_BASE_RESERVE = 64
#: Seconds a refused connection stays open after its ``503``, so the answer is read before the close, and how many
#: may linger at once; past that, refused connections are closed at once.
_LINGER_SECONDS = 1.0
_MAX_LINGERING = 64
#: Seconds between two log lines about failed accepts, or about refused connections.
LOG_INTERVAL_SECONDS = 10.0

_HEADER_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclasses.dataclass(frozen=True)
class ConnectionPolicy:
    """What the settings say about inbound connections (``Settings.http_*``, ``Settings.max_connections*``)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    #: 0: derived from the descriptor limit (:func:`connection_limits`).
    max_connections: int = 0
    #: 0: no cap per address.
    max_per_peer: int = 256
    #: Descriptors the derived total leaves for outbound calls and the store.
    reserve: int = OUTBOUND_RESERVE + 10 + _BASE_RESERVE

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionPolicy:
        """The policy of ``settings``; the reserve counts the outbound pool and the store's pool."""
        return cls(
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            keepalive_timeout=settings.http_keepalive_seconds,
            max_connections=settings.max_connections,
            max_per_peer=settings.max_connections_per_peer,
            reserve=OUTBOUND_RESERVE + settings.store_pool_size + _BASE_RESERVE,
        )


CONNECTIONS: web.AppKey[ConnectionPolicy] = web.AppKey("connections", ConnectionPolicy)


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    """The caps in force: ``descriptors`` is the soft ``RLIMIT_NOFILE`` (``None``: unlimited)."""

    max_connections: int
    max_per_peer: int
    descriptors: int | None
    reserve: int


def connection_limits(policy: ConnectionPolicy, descriptors: int | None = None) -> ConnectionLimits:
    """The total cap: the configured one, or the descriptor limit less the reserve (at least a quarter of the
    limit, for a limit too low to keep the whole reserve). ``descriptors`` defaults to this process's soft limit."""
    if descriptors is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        descriptors = None if soft == resource.RLIM_INFINITY else soft
    if policy.max_connections > 0:
        total = policy.max_connections
    elif descriptors is None:
        total = 0
    else:
        total = max(descriptors // 4, descriptors - policy.reserve)
    return ConnectionLimits(
        max_connections=total, max_per_peer=policy.max_per_peer, descriptors=descriptors, reserve=policy.reserve
    )


class CountedLog:
    """One log line per ``interval`` for an event that may happen thousands of times a second, with the count.

    The first occurrence is logged at once; later ones within the interval are counted and logged together when
    it ends (a timer on the loop), so a burst costs two lines, not one per occurrence.
    """

    def __init__(self, event: str, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.event = event
        self.interval = interval
        self._pending = 0
        self._fields: dict[str, Any] = {}
        self._next_at = float("-inf")
        self._flush: asyncio.TimerHandle | None = None

    def note(self, loop: asyncio.AbstractEventLoop, **fields: Any) -> None:
        """Count one occurrence; ``fields`` (of the latest one) go on the line."""
        self._pending += 1
        self._fields = fields
        now = loop.time()
        if now >= self._next_at:
            self._emit(now)
        elif self._flush is None:
            self._flush = loop.call_at(self._next_at, self._flush_now, loop)

    def _flush_now(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush = None
        if self._pending:
            self._emit(loop.time())

    def _emit(self, now: float) -> None:
        log.warning(self.event, count=self._pending, interval_seconds=self.interval, **self._fields)
        self._pending = 0
        self._next_at = now + self.interval

    def close(self) -> None:
        """Stop the pending timer, if any (what it would have counted is dropped)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None


class AcceptErrorLog:
    """An event loop exception handler: failed ``accept()`` calls become counted lines (``http.accept_failed``),
    anything else goes to the handler before it (or the loop's default).

    asyncio logs a failed accept with its traceback, and while descriptors are exhausted it fails up to the
    listen backlog's count of times per loop iteration: tens of thousands of tracebacks a second.
    """

    def __init__(
        self,
        previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None,
        interval: float = LOG_INTERVAL_SECONDS,
    ) -> None:
        self.previous = previous
        self.counted = CountedLog("http.accept_failed", interval)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Count an accept error; pass anything else on."""
        exc = context.get("exception")
        message = str(context.get("message", ""))
        if isinstance(exc, OSError) and ("accept" in message or "_accept_connection" in message):
            reason = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
            self.counted.note(loop, reason=reason or type(exc).__name__)
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def _refusal(detail: str) -> bytes:
    problem = DEFAULT_PROBLEMS.build("too-many-connections", detail)
    body = orjson.dumps(problem.model_dump(mode="json", exclude_none=True))
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionGuard:
    """Open connections per client address and in all, against their caps (0: none)."""

    def __init__(self, max_connections: int, max_per_peer: int, *, linger: float = _LINGER_SECONDS) -> None:
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.linger = linger
        self.open = 0
        self.lingering = 0
        self._per_peer: dict[str, int] = {}
        self.refused = CountedLog("http.connections_refused")
        self._peer_full = _refusal(f"this address holds {max_per_peer} open connections, as many as it may")
        self._all_full = _refusal(f"the gateway holds {max_connections} open connections, as many as it accepts")

    def admit(self, peer: str) -> bytes | None:
        """Count a new connection from ``peer``; or, past a cap, the answer to send it instead (it is not counted)."""
        held = self._per_peer.get(peer, 0)
        if self.max_per_peer and held >= self.max_per_peer:
            return self._peer_full
        if self.max_connections and self.open >= self.max_connections:
            return self._all_full
        self._per_peer[peer] = held + 1
        self.open += 1
        return None

    def release(self, peer: str) -> None:
        """A connection ``admit`` counted has closed."""
        self.open -= 1
        left = self._per_peer[peer] - 1
        if left:
            self._per_peer[peer] = left
        else:
            del self._per_peer[peer]

    def held(self, peer: str) -> int:
        """Connections open from ``peer``."""
        return self._per_peer.get(peer, 0)


def _peer_of(transport: asyncio.BaseTransport) -> str:
    peername = transport.get_extra_info("peername")
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return ""  # a Unix socket: one local peer


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, counted by a :class:`ConnectionGuard` and with header and body timeouts."""

    __slots__ = ("_admitted", "_body", "_deadline", "_guard", "_linger", "_peer", "_policy")

    def __init__(self, manager: web.Server, *, guard: ConnectionGuard, policy: ConnectionPolicy, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._policy = policy
        self._peer = ""
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        #: The body of the latest request, while it is still arriving.
        self._body: StreamReader | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection and start its header timeout, or answer ``503`` and close it."""
        peer = _peer_of(transport)
        refusal = self._guard.admit(peer)
        if refusal is not None:
            self._refuse(transport, refusal)
            return
        self._peer = peer
        self._admitted = True
        super().connection_made(transport)
        if self._policy.header_timeout > 0:
            self._deadline = self._loop.call_later(self._policy.header_timeout, self._headers_late)

    def _refuse(self, transport: asyncio.BaseTransport, answer: bytes) -> None:
        guard = self._guard
        guard.refused.note(self._loop, max_connections=guard.max_connections, max_per_peer=guard.max_per_peer)
        assert isinstance(transport, asyncio.Transport)
        transport.write(answer)
        if guard.lingering >= _MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        # Half-close and keep reading a moment: closing with the request unread would reset the connection,
        # and the client could lose the answer. The client's own close (end of file) closes it sooner.
        transport.write_eof()
        guard.lingering += 1
        self._linger = self._loop.call_later(guard.linger, transport.close)

    def data_received(self, data: bytes) -> None:
        """Parse as aiohttp does; a request's headers complete end their timeout and start its body's."""
        if not self._admitted:
            return  # refused: what the client sends is dropped
        count = self._request_count
        super().data_received(data)
        if self._close or self._force_close:
            return
        if self._request_count != count:
            self._disarm()
            payload = self._messages[-1][1] if self._messages else None
            self._body = payload if payload is not None and not payload.is_eof() else None
            if self._body is not None and self._policy.body_timeout > 0:
                self._deadline = self._loop.call_later(self._policy.body_timeout, self._body_late, self._body)
        elif (
            self._deadline is None
            and data
            and self._policy.header_timeout > 0
            and (self._body is None or self._body.is_eof())
        ):
            # The first bytes of the next request on a kept-alive connection. Bytes that end a body arriving in
            # pieces may start this clock too; the next request's headers stop it.
            self._deadline = self._loop.call_later(self._policy.header_timeout, self._headers_late)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Uncount the connection and stop its timers."""
        if not self._admitted:
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None
                self._guard.lingering -= 1
            return
        self._admitted = False
        self._disarm()
        self._guard.release(self._peer)
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self._request_in_progress or self._force_close or self.transport is None:
            return  # a request is being answered: the keep-alive timeout takes over after it
        self.transport.write(_HEADER_TIMEOUT_ANSWER)
        self.force_close()

    def _body_late(self, payload: StreamReader) -> None:
        self._deadline = None
        if payload.is_eof() or self.transport is None:
            return
        if not self._request_in_progress:
            self.force_close()
            return
        timeout = self._policy.body_timeout
        # The handler reading the body gets the problem; the connection closes once it has answered.
        payload.set_exception(
            ApiProblem("request-timeout", f"the request body did not arrive within {timeout:g} seconds")
        )
        payload.feed_eof()
        self.close()


class GuardedServer(web.Server):
    """aiohttp's low-level server, making :class:`GuardedHandler` protocols."""

    def __init__(self, handler: Any, *, guard: ConnectionGuard, policy: ConnectionPolicy, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.guard = guard
        self.policy = policy

    @classmethod
    def around(cls, server: web.Server, guard: ConnectionGuard, policy: ConnectionPolicy) -> GuardedServer:
        """The same server as ``server`` (handler, request factory, handler options), guarded."""
        return cls(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            guard=guard,
            policy=policy,
            **server._kwargs,
        )

    def __call__(self) -> RequestHandler:
        """A protocol for one new connection."""
        return GuardedHandler(self, guard=self.guard, policy=self.policy, loop=self._loop, **self._kwargs)


def claim_event_stream(request: web.Request, hub: EventHub, client_id: str) -> None:
    """Count an event stream of ``client_id`` until this request's handling ends; past the client's cap a
    ``too-many-event-streams`` problem (``429``), past the total a ``event-streams-full`` one (``503``)."""
    try:
        release = hub.open_stream(client_id)
    except StreamLimitReached as exc:
        headers = {"Retry-After": "5"}
        if exc.scope == "client":
            detail = f"this client has {exc.limit} event streams open at this replica, as many as it may"
            raise ApiProblem("too-many-event-streams", detail, headers=headers) from None
        detail = f"this replica has {exc.limit} event streams open, as many as it serves"
        raise ApiProblem("event-streams-full", detail, headers=headers) from None
    task = asyncio.current_task()
    if task is None:  # pragma: no cover - aiohttp runs every handler in a task
        release()
        return
    # The request's task ends however the stream does: finished, client gone, or cancelled at shutdown.
    task.add_done_callback(lambda _: release())
