"""The reference servers of the benchmark, each run as its own process on 127.0.0.1.

- ``proxy``: the floor of this stack. A bare pass-through proxy on the gateway's own libraries (an aiohttp server
  and one ``aiohttp.ClientSession``), with nothing else: no validation, no store, no tracing, no logging. What
  the gateway costs above it is the price of its features.
- ``sink``: a local OTLP/HTTP trace collector that reads and drops what it gets, so that span export is paid in
  full by the gateway (serialisation, HTTP) without a real collector on the machine.

``python -m bench.servers proxy --port P --upstream http://127.0.0.1:Q`` or ``python -m bench.servers sink --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

__all__ = ["main", "make_proxy", "make_sink"]

# Headers that describe one hop, not the message: a proxy never forwards them (RFC 9110, section 7.6.1).
_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
     "content-length"}
)  # fmt: skip

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)


def make_proxy(upstream: str, *, limit: int = 256) -> web.Application:
    """Forward every request to ``upstream`` as it came and answer with what came back."""
    base = upstream.rstrip("/")

    async def forward(request: web.Request) -> web.Response:
        session = request.app[SESSION]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        async with session.request(request.method, base + request.path_qs, headers=headers, data=body) as reply:
            content = await reply.read()
            out = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP}
            return web.Response(status=reply.status, headers=out, body=content)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
        app[SESSION] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        yield
        await app[SESSION].close()

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


class SinkStats:
    """What the sink received."""

    def __init__(self) -> None:
        self.posts = 0
        self.bytes = 0


SINK_STATS: web.AppKey[SinkStats] = web.AppKey("sink_stats", SinkStats)


def make_sink() -> web.Application:
    """Accept OTLP/HTTP exports (``POST /v1/traces``) and report their count at ``GET /stats``."""
    stats = SinkStats()

    async def traces(request: web.Request) -> web.Response:
        stats.posts += 1
        stats.bytes += len(await request.read())
        # An empty ExportTraceServiceResponse is an empty protobuf message: zero bytes.
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def report(_: web.Request) -> web.Response:
        return web.json_response({"posts": stats.posts, "bytes": stats.bytes})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[SINK_STATS] = stats
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", report)
    return app


async def _serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Run one reference server until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["proxy", "sink"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", help="the proxy's upstream origin, e.g. http://127.0.0.1:8101")
    args = parser.parse_args()
    if args.kind == "proxy":
        if not args.upstream:
            parser.error("proxy needs --upstream")
        app = make_proxy(args.upstream)
    else:
        app = make_sink()
    asyncio.run(_serve(app, args.port))


if __name__ == "__main__":
    main()
