"""Agency requests over real sockets: the direct path to aiohttp's pool answers and fails exactly as the httpx path
over the same pool, and builds no httpx model on the way."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from httpx_aiohttp import AiohttpTransport

from adapters import AgencyHttp, AgencyTransport, TransientAgencyError


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen = {"body": body.decode(), "apikey": request.headers.get("apikey")}
    return web.json_response(seen, headers={"Retry-After": "7"})


async def _big(_: web.Request) -> web.Response:
    return web.Response(body=b"x" * 4096)


async def _slow(_: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def _hang_up(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()  # the request arrived; no answer comes
    await asyncio.sleep(1)
    return web.Response(text="never")


@pytest.fixture
async def agency() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_post("/api/echo", _echo)
    app.router.add_get("/api/big", _big)
    app.router.add_get("/api/slow", _slow)
    app.router.add_get("/api/hang-up", _hang_up)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture(params=["direct", "httpx"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The gateway's transport, and httpx-aiohttp's own (httpx's models over the same kind of pool)."""
    chosen: httpx.AsyncBaseTransport = AgencyTransport() if request.param == "direct" else AiohttpTransport()
    yield chosen
    await chosen.aclose()


def _http(transport: httpx.AsyncBaseTransport, base_url: str, **kwargs: Any) -> AgencyHttp:
    return AgencyHttp(transport, agency="test", base_url=base_url, **kwargs)


async def test_a_request_arrives_with_its_headers_and_body_and_the_reply_reads_back(
    agency: TestServer, transport: httpx.AsyncBaseTransport
) -> None:
    """Extra headers and the body reach the agency; status, body and case-insensitive headers come back."""
    http = _http(transport, str(agency.make_url("/api")), extra_headers={"apikey": "K"})
    response = await http.send(http.build("POST", "echo", content=b'{"a":1}'))
    assert response.status_code == 200
    assert response.json() == {"body": '{"a":1}', "apikey": "K"}
    assert response.headers.get("retry-after") == response.headers.get("Retry-After") == "7"
    assert response.content_type == "application/json"


async def test_the_direct_path_builds_no_httpx_request(
    agency: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the gateway's transport, an agency request never becomes an httpx.Request."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an httpx.Request was built")

    monkeypatch.setattr(httpx.Request, "__init__", refuse)
    transport = AgencyTransport()
    try:
        http = _http(transport, str(agency.make_url("/api")))
        assert (await http.send(http.build("POST", "echo", content=b"{}"))).status_code == 200
    finally:
        await transport.aclose()


async def test_a_body_over_the_limit_is_transient_and_sent(
    agency: TestServer, transport: httpx.AsyncBaseTransport
) -> None:
    """A reply longer than max_body is refused while it is read, as a transient fault of a request that was sent."""
    http = _http(transport, str(agency.make_url("/api")), max_body=1024)
    with pytest.raises(TransientAgencyError, match="over 1024 bytes") as info:
        await http.send(http.build("GET", "big"))
    assert (info.value.sent, info.value.cause) == (True, "body too large")


async def test_a_refused_connection_was_not_sent(transport: httpx.AsyncBaseTransport) -> None:
    """Nothing listens on the port: the request provably never reached the agency."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = _http(transport, f"http://127.0.0.1:{port}/api")
    with pytest.raises(TransientAgencyError) as info:
        await http.send(http.build("GET", "x"))
    assert info.value.sent is False


async def test_an_agency_that_hangs_up_after_the_request_may_have_it(
    agency: TestServer, transport: httpx.AsyncBaseTransport
) -> None:
    """The connection closes after the request went out: it may have reached the agency."""
    http = _http(transport, str(agency.make_url("/api")))
    with pytest.raises(TransientAgencyError) as info:
        await http.send(http.build("GET", "hang-up"))
    assert info.value.sent is True


async def test_an_agency_that_does_not_answer_in_time_times_out_as_sent(
    agency: TestServer, transport: httpx.AsyncBaseTransport
) -> None:
    """No answer within the call's timeout: a timeout of a request that was sent."""
    http = _http(transport, str(agency.make_url("/api")), timeout=0.2)
    with pytest.raises(TransientAgencyError) as info:
        await http.send(http.build("GET", "slow"))
    assert (info.value.sent, info.value.cause) == (True, "timeout")
