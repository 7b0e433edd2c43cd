"""``callback_url`` through the API: a request whose callback the policy refuses is a 422 naming the field."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import Client, ClientDirectory, Settings, build_app, hash_key
from gateway.security import callback_origin
from tests.fakes import KEY_A, KEY_B, FakeAdapter, envelope

#: Origins the client lists, so that it is the address, not the allowlist, that refuses each spelling below.
LISTED = ["https://hooks.example.org", "http://hooks.example.org", "https://127.0.0.1", "https://localhost",
          "https://[::1]", "https://0.0.0.0", "https://[::ffff:7f00:1]", "https://10.0.0.5", "https://169.254.169.254",
          "https://192.168.1.20", "https://[fe80::1]", "https://localhost.", "https://api.localhost", "https://[::]",
          "https://127.0.0.1:8101"]  # fmt: skip


@pytest.fixture
async def api(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
) -> TestClient[Any, Any]:
    """A gateway whose client A may receive callbacks at :data:`LISTED`; client B has a secret and no origins."""
    clients = ClientDirectory(
        [
            Client("a", "A", frozenset({hash_key(KEY_A)}), webhook_secret="whsec-a",
                   callback_origins=tuple(callback_origin(o) for o in LISTED)),
            Client("b", "B", frozenset({hash_key(KEY_B)}), webhook_secret="whsec-b"),
        ]
    )  # fmt: skip
    settings = dataclasses.replace(gateway_settings, callback_allow_http=False)
    app = build_app(settings, clients=clients, factories={"fake": lambda context: fake_adapter})
    return await aiohttp_client(app)


async def post(api: TestClient[Any, Any], callback: str, key: str = KEY_A) -> tuple[int, dict[str, Any]]:
    resp = await api.post("/v1/requests", json=envelope(callback_url=callback),
                          headers={"Authorization": f"Bearer {key}", "Prefer": "wait=5"})  # fmt: skip
    return resp.status, await resp.json()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://0177.0.0.1/hook",
        "https://127.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[0:0:0:0:0:ffff:127.0.0.1]/hook",
        "https://localhost./hook",
        "https://LOCALHOST/hook",
        "https://api.localhost/hook",
        "https://[::]/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hook",
        "https://127.0.0.1:8101/_control/reset",
    ],
)
async def test_callbacks_to_the_gateways_own_networks_are_refused(api: TestClient[Any, Any], url: str) -> None:
    """Loopback, private, link-local and unspecified hosts, in every spelling, are a 422 naming callback_url."""
    status, problem = await post(api, url)
    assert status == 422, problem
    assert problem["type"] == "/problems/validation-error"
    assert problem["errors"] == [{"field": "callback_url", "message": problem["errors"][0]["message"]}]
    assert "address" in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    ("url", "key", "says"),
    [
        ("http://hooks.example.org/mpp", KEY_A, "must use https"),
        ("https://user:secret@hooks.example.org/mpp", KEY_A, "credentials"),
        ("https://elsewhere.example.org/mpp", KEY_A, "callback origins"),
        ("https://hooks.example.org:8443/mpp", KEY_A, "callback origins"),
        ("https://hooks.example.org/mpp", KEY_B, "no callback origins"),
    ],
)
async def test_callbacks_outside_the_policy_are_refused(api: TestClient[Any, Any], url: str, key: str,
                                                        says: str) -> None:  # fmt: skip
    """Plain http (not enabled), credentials in the URL, an origin the client does not list: 422, callback_url."""
    status, problem = await post(api, url, key)
    assert status == 422
    [error] = problem["errors"]
    assert error["field"] == "callback_url" and says in error["message"]
    assert "secret" not in problem["detail"]


async def test_a_callback_at_a_listed_public_origin_is_accepted(
    api: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """An https callback at an origin the client lists is accepted and the request runs."""
    status, record = await post(api, "https://hooks.example.org/mpp?desk=7")
    assert status == 200, record
    assert record["status"] == "completed"
    assert len(fake_adapter.calls) == 1
