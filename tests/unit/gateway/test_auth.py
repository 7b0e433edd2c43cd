"""gateway.security API keys: API key rotation and the bearer challenge, through the HTTP API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import Client, ClientDirectory, Settings, build_app, hash_key
from gateway.security import bearer_token
from tests.fakes import FakeAdapter

OLD_KEY = "mppk_rotation-old-key-00000000000000000000000"
NEW_KEY = "mppk_rotation-new-key-00000000000000000000000"
ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def counter(*keys: str) -> ClientDirectory:
    return ClientDirectory([Client("counter-a", "Counter A", frozenset(hash_key(k) for k in keys), mpp_id="mpp-a")])


async def statuses(gateway: TestClient[Any, Any]) -> dict[str, int]:
    out = {}
    for name, key in (("old", OLD_KEY), ("new", NEW_KEY)):
        out[name] = (await gateway.get("/v1/services", headers={"Authorization": f"Bearer {key}"})).status
    return out


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ((OLD_KEY,), {"old": 200, "new": 401}),
        ((OLD_KEY, NEW_KEY), {"old": 200, "new": 200}),
        ((NEW_KEY,), {"old": 401, "new": 200}),
    ],
    ids=["before-rotation", "during-rotation", "old-key-removed"],
)
async def test_key_rotation(
    aiohttp_client: ClientFactory,
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
    keys: tuple[str, ...],
    expected: dict[str, int],
) -> None:
    """During a rotation both keys of a client work at once; once the old hash is removed, the old key is 401."""
    app = build_app(gateway_settings, clients=counter(*keys), factories={"fake": lambda context: fake_adapter})
    assert await statuses(await aiohttp_client(app)) == expected


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="mpp-gateway"'),
        ("Basic dXNlcjpwYXNz", 'Bearer realm="mpp-gateway"'),
        ("Bearer ", 'Bearer realm="mpp-gateway"'),
        (f"Bearer {OLD_KEY}x", 'Bearer realm="mpp-gateway", error="invalid_token"'),
        ("Bearer a.b.c", 'Bearer realm="mpp-gateway", error="invalid_token"'),
    ],
    ids=["none", "basic", "empty-bearer", "unknown-key", "jwt-shaped-without-jwt-configured"],
)
async def test_challenge_says_invalid_token_only_when_one_was_presented(
    aiohttp_client: ClientFactory,
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
    authorization: str | None,
    challenge: str,
) -> None:
    """RFC 6750: a missing credential gets a bare challenge, a presented but unknown one error="invalid_token"."""
    app = build_app(gateway_settings, clients=counter(OLD_KEY), factories={"fake": lambda context: fake_adapter})
    gateway = await aiohttp_client(app)
    resp = await gateway.get("/v1/services", headers={"Authorization": authorization} if authorization else {})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == challenge
    assert OLD_KEY not in await resp.text()


@pytest.mark.parametrize(
    ("authorization", "token"),
    [(None, None), ("", None), ("Bearer", None), ("Bearer   ", None), ("bearer abc ", "abc"), ("Token abc", None)],
)
def test_bearer_token(authorization: str | None, token: str | None) -> None:
    """Only the Bearer scheme (any case) with a non-blank token yields a token."""
    assert bearer_token(authorization) == token


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("GET", "/problems/unauthorized", 200),
        ("GET", "/v1/services", 401),
        ("GET", "/v1/agencies", 401),
        ("GET", "/no/such/route", 401),
        ("DELETE", "/v1/services", 401),
    ],
)
async def test_only_routes_marked_public_answer_without_a_key(
    aiohttp_client: ClientFactory,
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
    method: str,
    path: str,
    status: int,
) -> None:
    """Routes marked public answer without a key; every other route, unknown paths and methods included, is 401."""
    app = build_app(gateway_settings, clients=counter(OLD_KEY), factories={"fake": lambda context: fake_adapter})
    assert (await (await aiohttp_client(app)).request(method, path)).status == status


async def test_a_route_added_without_a_policy_requires_a_client(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> None:
    """A route added to the app without being marked public is closed: no key 401, a valid key reaches the handler."""
    app = build_app(gateway_settings, clients=counter(OLD_KEY), factories={"fake": lambda context: fake_adapter})

    async def added(_: web.Request) -> web.Response:
        return web.Response(text="reached")

    app.router.add_get("/v1/added", added)
    gateway = await aiohttp_client(app)
    assert (await gateway.get("/v1/added")).status == 401
    answer = await gateway.get("/v1/added", headers={"Authorization": f"Bearer {OLD_KEY}"})
    assert (answer.status, await answer.text()) == (200, "reached")


async def test_a_public_route_keeps_its_trace_and_problem_rendering(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> None:
    """A public route that fails still answers a problem carrying the call's trace id and the traceresponse header."""
    app = build_app(gateway_settings, clients=counter(OLD_KEY), factories={"fake": lambda context: fake_adapter})
    answer = await (await aiohttp_client(app)).get("/problems/no-such-problem")
    body = await answer.json()
    assert answer.status == 404
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert body["trace_id"] == answer.headers["traceresponse"].split("-")[1]
