"""The hostile agency: the scenarios, and real loopback servers that answer every request with one of them.

Each scenario gets its own listener on 127.0.0.1, so the adapter meets it through the real outbound stack (the
``httpx-aiohttp`` transport, aiohttp's connection pool, the kernel's sockets), not through a mock transport that
can only imitate what a broken network does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType

from aiohttp import web

__all__ = ["PROMPT_FRACTION", "SCENARIOS", "HostileAgency", "Scenario"]

_HOST = "127.0.0.1"
_MIB = 1024 * 1024
_HUGE_BODY = 10 * _MIB
#: Sent of the huge body before the server stalls: twice the battery's body limit, far from the whole.
_HUGE_SENT = 2 * _MIB
_CHUNK = 64 * 1024
_DRIP_BYTES = 64

PROMPT_FRACTION = 0.75
"""A prompt scenario must end within this share of the timeout. Giving up at the body limit takes milliseconds on
loopback, waiting for the rest takes the whole timeout: the margin between them absorbs a loaded test machine."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One way an agency link fails, and what the adapter must make of it: a :class:`~adapters.TransientAgencyError`."""

    name: str
    description: str
    #: The ``sent`` the error must carry; ``None`` when either is acceptable.
    sent: bool | None = None
    #: The ``retry_after`` the error must carry, when the agency said how long to wait.
    retry_after: float | None = None
    #: The call must end within :data:`PROMPT_FRACTION` of the timeout: no waiting for the whole of a hostile answer.
    prompt: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("connection-refused", "nothing listens on the port", sent=False),
    Scenario("connect-timeout", "the listener never completes the TCP handshake", sent=False),
    Scenario("http-500", "500 with a plain-text body"),
    Scenario("http-502", "502 with a plain-text body"),
    Scenario("http-503-retry-after", "503 with Retry-After: 7", retry_after=7.0),
    Scenario("http-429", "429 from an API manager's rate limit, JSON body, no Retry-After"),
    Scenario("read-timeout", "the server reads the request and never answers", sent=True),
    Scenario("reset-mid-body", "headers and half the declared body, then a TCP reset", sent=True),
    Scenario("empty-200", "200, application/json, empty body"),
    Scenario("html-200", "200 with a proxy's HTML sign-in page"),
    Scenario("html-502", "502 with nginx's HTML error page"),
    Scenario("plain-text-200", "200, text/plain, bytes that are not the agency's format"),
    Scenario("truncated-json", "200, application/json, a JSON document cut in the middle"),
    Scenario("oversized-body", "200 declaring 10 MiB; 2 MiB arrive at once, then the server stalls", prompt=True),
    Scenario("slow-drip", "200, the body trickles one byte at a time for longer than the timeout", sent=True),
)
"""Every scenario of the hostile battery, in the order it reports them."""

_NGINX_502 = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""
_SIGN_IN_PAGE = (
    b'<!DOCTYPE html>\n<html lang="id"><head><title>Portal Masuk</title></head>\n'
    b'<body><form method="post" action="/login"><input name="username"><input name="password" type="password">'
    b"</form></body></html>\n"
)
_GARBAGE = b"OK\r\n\x00\x01\x02 not what you asked for \xff\xfe\x8f"
_TRUNCATED = b'{"status": "OK", "code": "200", "data": [{"id": "1", "name": "Sit'


@dataclasses.dataclass
class _Stage:
    """What a handler needs besides the request."""

    timeout: float
    release: asyncio.Event


_Handler = Callable[[web.Request, _Stage], Awaitable[web.StreamResponse]]


def _reset(request: web.Request) -> None:
    """Abort the connection with a RST (SO_LINGER 0), so the client sees a reset, not a clean close."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _fixed(status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> _Handler:
    async def handler(request: web.Request, stage: _Stage) -> web.StreamResponse:
        await request.read()
        all_headers = {"Content-Type": content_type, **(headers or {})}
        return web.Response(status=status, body=body, headers=all_headers)

    return handler


async def _never_answer(request: web.Request, stage: _Stage) -> web.StreamResponse:
    await request.read()
    await stage.release.wait()
    _reset(request)
    return web.Response(status=204)  # never reaches the wire: the transport is gone


async def _reset_mid_body(request: web.Request, stage: _Stage) -> web.StreamResponse:
    await request.read()
    body = b'{"status": "OK", "data": {"reference": "R-0001", "items": ["' + b"a" * 4000 + b'"]}}'
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await response.write(body[: len(body) // 2])
        # Let the headers and the first half arrive, so the reset strikes mid-body rather than before the answer.
        await asyncio.sleep(0.02)
    _reset(request)
    return response


async def _oversized(request: web.Request, stage: _Stage) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = _HUGE_BODY
    await response.prepare(request)
    # A client that enforces its limit while reading gives up after the first MiB; one that buffers the whole
    # body waits here for the rest until its timeout, and the scenario's promptness check catches it.
    with contextlib.suppress(ConnectionError):
        await response.write(b'{"data": "')
        for _ in range(_HUGE_SENT // _CHUNK):
            await response.write(b"x" * _CHUNK)
        await stage.release.wait()
    _reset(request)
    return response


async def _slow_drip(request: web.Request, stage: _Stage) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = _DRIP_BYTES
    await response.prepare(request)
    # Eight bytes per timeout: every read returns something in time, only the call as a whole takes too long.
    interval = stage.timeout / 8
    body = b'{"data": "' + b"." * (_DRIP_BYTES - 12) + b'"}'
    with contextlib.suppress(ConnectionError):
        for byte in body:
            if stage.release.is_set():
                break
            await response.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stage.release.wait(), interval)
    _reset(request)
    return response


_HANDLERS: Mapping[str, _Handler] = {
    "http-500": _fixed(500, b"Internal Server Error", "text/plain"),
    "http-502": _fixed(502, b"Bad Gateway", "text/plain"),
    "http-503-retry-after": _fixed(503, b"Service Unavailable", "text/plain", {"Retry-After": "7"}),
    "http-429": _fixed(429, b'{"code": "900800", "message": "Message throttled out"}', "application/json"),
    "read-timeout": _never_answer,
    "reset-mid-body": _reset_mid_body,
    "empty-200": _fixed(200, b"", "application/json"),
    "html-200": _fixed(200, _SIGN_IN_PAGE, "text/html; charset=utf-8"),
    "html-502": _fixed(502, _NGINX_502, "text/html"),
    "plain-text-200": _fixed(200, _GARBAGE, "text/plain"),
    "truncated-json": _fixed(200, _TRUNCATED, "application/json"),
    "oversized-body": _oversized,
    "slow-drip": _slow_drip,
}


class HostileAgency:
    """Listeners on 127.0.0.1, one per scenario; ``async with`` starts them and tears everything down.

    :meth:`url` gives a scenario's ``http://127.0.0.1:<port>`` root; :attr:`unavailable` names the scenarios this
    machine cannot stage, with the reason.
    """

    def __init__(self, scenarios: Sequence[Scenario], *, timeout: float) -> None:
        self._scenarios = tuple(scenarios)
        self._stage = _Stage(timeout=timeout, release=asyncio.Event())
        self._urls: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []
        self._sockets: list[socket.socket] = []
        self._writers: list[asyncio.StreamWriter] = []
        self.unavailable: dict[str, str] = {}

    def url(self, scenario: str) -> str | None:
        """The root URL serving ``scenario``, or ``None`` when it could not be staged."""
        return self._urls.get(scenario)

    async def __aenter__(self) -> HostileAgency:
        try:
            for scenario in self._scenarios:
                await self._start(scenario.name)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _start(self, name: str) -> None:
        if name == "connection-refused":
            self._urls[name] = self._root(self._refusing_port())
        elif name == "connect-timeout":
            port, problem = await self._blackhole_port()
            if problem is None:
                self._urls[name] = self._root(port)
            else:
                self.unavailable[name] = problem
        else:
            self._urls[name] = self._root(await self._serve(_HANDLERS[name]))

    @staticmethod
    def _root(port: int) -> str:
        return f"http://{_HOST}:{port}"

    def _refusing_port(self) -> int:
        # Bound but not listening: the port stays ours (no other process can take it) and every connect is refused.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sockets.append(sock)
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port

    async def _blackhole_port(self) -> tuple[int, str | None]:
        """A listener whose accept queue is full and never drained: the kernel drops further handshakes.

        Linux drops a SYN when the accept queue is full; other systems may refuse instead. The queue is filled
        with connections of our own until a probe's connect hangs, which proves the blackhole works here.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sockets.append(sock)
        sock.bind((_HOST, 0))
        sock.listen(0)
        port: int = sock.getsockname()[1]
        for _ in range(8):
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(_HOST, port), 0.05)
            except TimeoutError:
                return port, None
            except OSError as exc:
                return port, f"this system answers a full accept queue with {type(exc).__name__}, not silence"
            self._writers.append(writer)
        return port, "this system completes TCP handshakes past a full accept queue"

    async def _serve(self, handler: _Handler) -> int:
        stage = self._stage

        async def answer(request: web.Request) -> web.StreamResponse:
            return await handler(request, stage)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        # No access log: the battery captures every log line to look for secrets, and these are the kit's own.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, _HOST, 0)
        await site.start()
        port: int = runner.addresses[0][1]
        return port

    async def aclose(self) -> None:
        """Let held requests go, stop every server, close every socket."""
        self._stage.release.set()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._writers.clear()
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
