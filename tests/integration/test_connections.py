"""Inbound connections over real sockets: header and body timeouts, caps per address and in all, event streams
per client, against a gateway served by the runner ``serve`` uses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import AgencyConfig, Settings, build_app
from gateway.cli import GatewayRunner
from gateway.store import generate_data_key
from tests.fakes import KEY_A, KEY_B, FakeAdapter, directory, envelope

#: Far beyond any timeout set here: a read still waiting then means the gateway kept the connection open.
PATIENCE = 10.0


class GatewayServer(TestServer):
    """aiohttp's test server, serving through :class:`GatewayRunner` as ``mpp-gateway serve`` does."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return GatewayRunner(self.app, **kwargs)


Serve = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def serve(tmp_path: Path, fake_adapter: FakeAdapter) -> AsyncIterator[Serve]:
    """Start a gateway (the fake adapter, settings overridden by keyword) on 127.0.0.1; its port is random."""
    servers: list[TestServer] = []

    async def start(**overrides: Any) -> TestServer:
        settings = Settings(
            store_path=str(tmp_path / f"gateway-{len(servers)}.sqlite3"),
            sqlite_synchronous="NORMAL",
            dispatch_concurrency=4,
            lease_seconds=5,
            shutdown_grace_seconds=1,
            sweep_interval_seconds=0.2,
            agencies={"fake": AgencyConfig(base_url="http://127.0.0.1:9")},
            data_keys=generate_data_key("test"),
        )
        app = build_app(
            dataclasses.replace(settings, **overrides),
            clients=directory(),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
            factories={"fake": lambda context: fake_adapter},
        )
        server = GatewayServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def connect(server: TestServer, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert server.port is not None
    return await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))


async def answer_of(reader: asyncio.StreamReader) -> tuple[bytes, dict[str, str], bytes]:
    """Read one response (status line, headers, a Content-Length body) from a raw connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), PATIENCE)
    return status.encode(), headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """The gateway closed the connection: the read ends (or is reset) rather than waiting."""
    try:
        return await asyncio.wait_for(reader.read(), PATIENCE) is not None
    except ConnectionResetError:
        return True


async def hang_up(*writers: asyncio.StreamWriter) -> None:
    """Close the client side of raw connections."""
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def lookup_request(api_key: str = KEY_A, **envelope_overrides: Any) -> bytes:
    body = json.dumps(envelope(**envelope_overrides)).encode()
    return (
        b"POST /v1/requests HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {api_key}\r\nPrefer: wait=5\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


async def test_half_sent_headers_get_408_and_the_connection_closed(serve: Serve) -> None:
    """A client that sends part of its headers and stops is answered 408 and closed after the header timeout."""
    server = await serve(http_header_timeout_seconds=0.3)
    reader, writer = await connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
    status, headers, _ = await answer_of(reader)
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert headers["connection"] == "close"
    assert await closed(reader)
    await hang_up(writer)


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(serve: Serve) -> None:
    """A new connection with no request at all does not hold its descriptor past the header timeout."""
    server = await serve(http_header_timeout_seconds=0.3)
    reader, writer = await connect(server)
    assert await closed(reader)
    await hang_up(writer)


async def test_kept_alive_connection_gets_the_header_timeout_per_request(serve: Serve) -> None:
    """After a full request, the next request's headers get their own timeout from their first byte."""
    server = await serve(http_header_timeout_seconds=0.3)
    reader, writer = await connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    status, _, _ = await answer_of(reader)
    assert status == b"HTTP/1.1 200 OK"
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: ")
    status, _, _ = await answer_of(reader)
    assert status == b"HTTP/1.1 408 Request Timeout"
    assert await closed(reader)
    await hang_up(writer)


async def test_body_slower_than_the_body_timeout_gets_a_408_problem(serve: Serve) -> None:
    """A body that stops arriving is answered with a request-timeout problem naming the timeout, then closed."""
    server = await serve(http_body_timeout_seconds=0.3)
    reader, writer = await connect(server)
    writer.write(
        b"POST /v1/requests HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {KEY_A}\r\nContent-Length: 500\r\n\r\n".encode()
        + b'{"service": "fake.thing.lookup", '
    )
    status, _, body = await answer_of(reader)
    assert status.startswith(b"HTTP/1.1 408")
    problem = json.loads(body)
    assert problem["type"] == "/problems/request-timeout"
    assert "0.3 seconds" in problem["detail"]
    assert await closed(reader)
    await hang_up(writer)


async def test_a_body_sent_in_time_is_not_cut_off(serve: Serve) -> None:
    """A body sent in pieces within the body timeout is read whole and the request answered."""
    server = await serve(http_body_timeout_seconds=5)
    reader, writer = await connect(server)
    whole = lookup_request()
    writer.write(whole[: len(whole) - 20])
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.write(whole[len(whole) - 20 :])
    status, _, body = await answer_of(reader)
    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(body)["status"] == "completed"
    await hang_up(writer)


async def test_connections_past_the_per_address_cap_get_503_while_open_ones_are_served(serve: Serve) -> None:
    """Past the per-address cap a new connection gets 503 (Retry-After, Connection: close, a problem) and is
    closed; connections already open still get lookups answered, and another address is still admitted."""
    server = await serve(max_connections_per_peer=3)
    held = [await connect(server) for _ in range(3)]
    reader, writer = await connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    status, headers, body = await answer_of(reader)
    assert status == b"HTTP/1.1 503 Service Unavailable"
    assert headers["retry-after"] == "1"
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "/problems/too-many-connections"
    assert "3 open connections" in problem["detail"]
    assert await closed(reader)
    await hang_up(writer)

    existing_reader, existing_writer = held[0]
    existing_writer.write(lookup_request())
    status, _, body = await answer_of(existing_reader)
    assert status == b"HTTP/1.1 200 OK"
    assert json.loads(body)["status"] == "completed"

    other_reader, other_writer = await connect(server, source="127.0.0.2")
    other_writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    status, _, _ = await answer_of(other_reader)
    assert status == b"HTTP/1.1 200 OK"
    await hang_up(*(w for _, w in held), other_writer)


async def test_a_closed_connection_frees_its_place(serve: Serve) -> None:
    """Once a counted connection closes, the address may open another."""
    server = await serve(max_connections_per_peer=1)
    reader, writer = await connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
    status, _, _ = await answer_of(reader)
    assert status == b"HTTP/1.1 200 OK"
    assert await closed(reader)
    await hang_up(writer)
    for _ in range(100):  # the gateway sees the close a moment later
        reader, writer = await connect(server)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        status, _, _ = await answer_of(reader)
        await hang_up(writer)
        if status == b"HTTP/1.1 200 OK":
            return
        await asyncio.sleep(0.05)
    pytest.fail("the closed connection's place was never freed")


async def test_connections_past_the_total_cap_get_503(serve: Serve) -> None:
    """Past the total cap, from any address, a new connection gets the 503 naming the gateway's limit."""
    server = await serve(max_connections=2, max_connections_per_peer=0)
    held = [await connect(server), await connect(server, source="127.0.0.2")]
    reader, writer = await connect(server, source="127.0.0.3")
    status, _, body = await answer_of(reader)
    assert status == b"HTTP/1.1 503 Service Unavailable"
    assert "gateway holds 2 open connections" in json.loads(body)["detail"]
    await hang_up(*(w for _, w in held), writer)


async def open_stream(server: TestServer, request_id: str, api_key: str) -> tuple[asyncio.StreamWriter, bytes, bytes]:
    """Open an event stream; its status line and, for a refusal, the problem body."""
    reader, writer = await connect(server)
    writer.write(
        f"GET /v1/requests/{request_id}/events HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {api_key}\r\n\r\n"
        .encode()
    )  # fmt: skip
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    status = head.split(b"\r\n", 1)[0]
    body = b""
    if b"application/problem+json" in head:
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        body = await asyncio.wait_for(reader.readexactly(length), PATIENCE)
    return writer, status, body


async def pending_request(server: TestServer, api_key: str, mpp_id: str) -> str:
    counter = {"mpp_id": mpp_id, "desk": "loket-01", "operator": "op-1"}
    async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=PATIENCE) as client:
        resp = await client.post("/v1/requests", json=envelope(counter=counter),
                                 headers={"Authorization": f"Bearer {api_key}"})  # fmt: skip
    assert resp.status_code == 202
    return str(resp.json()["id"])


async def test_a_clients_stream_past_its_cap_is_refused_while_another_clients_is_served(
    serve: Serve, fake_adapter: FakeAdapter
) -> None:
    """The (N+1)th concurrent event stream of a client gets 429 naming the cap; another client's stream opens;
    once one of the first client's streams closes, it may open one again."""
    fake_adapter.release.clear()  # the requests stay in progress: their streams stay open
    server = await serve(max_event_streams_per_client=2)
    mine = await pending_request(server, KEY_A, "mpp-a")
    theirs = await pending_request(server, KEY_B, "mpp-b")
    streams = []
    for _ in range(2):
        writer, status, _ = await open_stream(server, mine, KEY_A)
        assert status == b"HTTP/1.1 200 OK"
        streams.append(writer)
    writer, status, body = await open_stream(server, mine, KEY_A)
    assert status.startswith(b"HTTP/1.1 429")
    problem = json.loads(body)
    assert problem["type"] == "/problems/too-many-event-streams"
    assert "2 event streams" in problem["detail"]
    await hang_up(writer)

    other, status, _ = await open_stream(server, theirs, KEY_B)
    assert status == b"HTTP/1.1 200 OK"
    await hang_up(other, streams.pop())
    for _ in range(100):  # the stream notices its client left at its next write (the sweep interval)
        writer, status, _ = await open_stream(server, mine, KEY_A)
        await hang_up(writer)
        if status == b"HTTP/1.1 200 OK":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("a closed stream's place was never freed")
    await hang_up(*streams)
    fake_adapter.release.set()


async def test_streams_past_the_total_cap_get_503(serve: Serve, fake_adapter: FakeAdapter) -> None:
    """Past the replica's total of event streams, any client's new stream gets 503 event-streams-full."""
    fake_adapter.release.clear()
    server = await serve(max_event_streams=1)
    mine = await pending_request(server, KEY_A, "mpp-a")
    theirs = await pending_request(server, KEY_B, "mpp-b")
    first, status, _ = await open_stream(server, mine, KEY_A)
    assert status == b"HTTP/1.1 200 OK"
    writer, status, body = await open_stream(server, theirs, KEY_B)
    assert status.startswith(b"HTTP/1.1 503")
    assert json.loads(body)["type"] == "/problems/event-streams-full"
    await hang_up(first, writer)
    fake_adapter.release.set()
