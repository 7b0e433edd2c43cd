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
