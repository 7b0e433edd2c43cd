"""A mock as a third-party package would register it under ``mpp_gateway.mocks``, for the runner's tests."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from mocks import Control, MockSpec, Population

AGENCY = "samsat-fake"


def build(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    """An app answering ``GET /api/hello`` to the fresh key it hands out, with the shared controls installed."""
    key = secrets.token_hex(8)

    async def hello(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-Key", ""), key):
            return web.json_response({"error": "key"}, status=401)
        control.record_delivery("hello")
        return web.json_response({"hello": control.agency})

    app = web.Application()
    control.install(app)
    app.router.add_get("/api/hello", hello)
    return app, {"key": key}


MOCK = MockSpec(build, default_port=8199, base_path="/api")
#: Rebound by tests that need it on a free default port.
ON_FREE_PORT = MOCK
NOT_A_SPEC = {"build": build, "default_port": 8199}
