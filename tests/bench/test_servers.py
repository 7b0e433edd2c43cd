"""The benchmark's reference servers: the bare proxy passes requests through untouched, the sink takes OTLP posts."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bench.servers import make_proxy, make_sink


async def _upstream(seen: list[dict[str, Any]]) -> TestServer:
    async def echo(request: web.Request) -> web.Response:
        seen.append({"method": request.method, "path": request.path_qs, "body": await request.read(),
                     "headers": dict(request.headers)})  # fmt: skip
        return web.Response(status=201, body=b'{"ok":true}', content_type="application/json",
                            headers={"X-Agency": "yes"})  # fmt: skip

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app)
    await server.start_server()
    return server


async def test_proxy_forwards_method_path_body_and_headers_both_ways() -> None:
    """The bare proxy sends the request on as it came and returns the upstream's status, headers and body."""
    seen: list[dict[str, Any]] = []
    upstream = await _upstream(seen)
    try:
        async with TestClient(TestServer(make_proxy(str(upstream.make_url(""))))) as client:
            resp = await client.post("/dukcapil/get_json/x/CALL?a=1", data=b'{"NIK":"1"}',
                                     headers={"Content-Type": "application/json", "X-Key": "k"})  # fmt: skip
            assert resp.status == 201
            assert resp.headers["X-Agency"] == "yes"
            assert await resp.read() == b'{"ok":true}'
    finally:
        await upstream.close()
    assert seen == [
        {
            "method": "POST",
            "path": "/dukcapil/get_json/x/CALL?a=1",
            "body": b'{"NIK":"1"}',
            "headers": seen[0]["headers"] | {"X-Key": "k", "Content-Type": "application/json"},
        }
    ]


async def test_sink_accepts_trace_exports_and_counts_them() -> None:
    """The sink answers OTLP/HTTP posts with an empty protobuf reply and reports how many it got."""
    async with TestClient(TestServer(make_sink())) as client:
        for size in (10, 20):
            resp = await client.post("/v1/traces", data=b"x" * size,
                                     headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
            assert resp.status == 200 and resp.content_type == "application/x-protobuf"
            assert await resp.read() == b""
        assert await (await client.get("/stats")).json() == {"posts": 2, "bytes": 30}
