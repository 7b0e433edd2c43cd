"""The ops role: read from the clients file, and the only key to routes marked ``ops_only``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import ClientDirectory, Settings, build_app
from gateway.http import ops_only
from tests.fakes import KEY_A, KEY_OPS, FakeAdapter, directory

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def test_roles_are_read_from_the_clients_file() -> None:
    """A clients-file entry's ``roles: ["ops"]`` makes an ops client; an entry without roles is not one."""
    loaded = ClientDirectory.from_data(
        {"clients": [{"id": "ops", "roles": ["ops"], "key_sha256": []}, {"id": "counter", "key_sha256": []}]}
    )
    assert loaded.clients["ops"].is_ops
    assert not loaded.clients["counter"].is_ops


@pytest.mark.parametrize(
    ("roles", "message"),
    [("ops", "roles must be a list of names"), (["ops", 3], "roles must be a list of names"), (["admin"], "'admin'")],
)
def test_a_bad_role_is_refused_naming_the_client(roles: object, message: str) -> None:
    """A role that is not a list of known names stops loading the clients file with a message naming the client."""
    with pytest.raises(ValueError, match=message) as caught:
        ClientDirectory.from_data({"clients": [{"id": "console", "roles": roles}]})
    assert "'console'" in str(caught.value)


async def test_ops_only_routes_answer_ops_clients_only(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> None:
    """A route marked ops_only answers an ops client, refuses a counter client with 403 and no key with 401."""

    @ops_only
    async def overview(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = build_app(gateway_settings, clients=directory(), factories={"fake": lambda context: fake_adapter})
    app.router.add_get("/v1/test-ops", overview)
    gateway = await aiohttp_client(app)

    ops = await gateway.get("/v1/test-ops", headers={"Authorization": f"Bearer {KEY_OPS}"})
    counter = await gateway.get("/v1/test-ops", headers={"Authorization": f"Bearer {KEY_A}"})
    anonymous = await gateway.get("/v1/test-ops")

    assert ops.status == 200
    assert counter.status == 403
    assert (await counter.json())["type"].endswith("/forbidden")
    assert anonymous.status == 401
