"""receiveNIB's address allowlist over a real loopback socket, through the composed gateway.

The test client connects from 127.0.0.1, so an allowlist naming it lets the push through and one that does not
refuses it, whatever ``X-Forwarded-For`` claims: the gateway reads the socket's peer, never a header.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.oss import OssAdapter
from adapters.oss.inbound import JAKARTA, oss_token
from gateway import AgencyConfig, Settings, build_app
from gateway.http import TELEMETRY
from tests.fakes import KEY_A, FakeAdapter, directory

USERNAME = "mpp-kota-bandung"
PASSWORD = "oss-inbound-Pw-83c1f0"
NIB = "9120001234561"
AUTH = {"Authorization": f"Bearer {KEY_A}"}
ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def gateway(aiohttp_client: ClientFactory, settings: Settings, allow: str) -> TestClient[Any, Any]:
    oss = {"user_key": "k", "inbound_username": USERNAME, "inbound_password": PASSWORD, "inbound_allow": allow}
    agencies = {**settings.agencies, "oss": AgencyConfig(base_url="http://127.0.0.1:9", adapter_settings=oss)}
    app = build_app(
        dataclasses.replace(settings, agencies=agencies),
        clients=directory(),
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        factories={"fake": lambda context: FakeAdapter(), "oss": OssAdapter},
    )
    return await aiohttp_client(app)


async def push(client: TestClient[Any, Any], **headers: str) -> dict[str, str]:
    token = oss_token(USERNAME, PASSWORD, NIB, dt.datetime.now(JAKARTA).date())
    body = orjson.dumps({"dataNIB": {"nib": NIB, "nama_perseroan": "PT SUMBER REJEKI TANI"}})
    resp = await client.post("/oss/receiveNIB", data=io.BytesIO(body), headers={"Token": token, **headers})
    assert resp.status == 200
    reply: dict[str, str] = (await resp.json())["responreceiveNIB"]
    return reply


def refusals(client: TestClient[Any, Any]) -> float:
    registry = client.app[TELEMETRY].metrics.registry
    labels = {"agency": "oss", "route": "/oss/receiveNIB", "reason": "address-not-allowed"}
    return registry.get_sample_value("mpp_inbound_refusals_total", labels) or 0.0


@pytest.mark.parametrize("allow", ["127.0.0.1", "127.0.0.0/8,2001:db8::/32", ""])
async def test_a_push_from_an_allowed_address_is_stored(
    aiohttp_client: ClientFactory, gateway_settings: Settings, allow: str
) -> None:
    """The loopback client inside the list (or no list at all): stored, and a granted counter reads it."""
    client = await gateway(aiohttp_client, gateway_settings, allow)
    assert await push(client) == {"status": "1", "keterangan": "Berhasil menyimpan data"}
    assert (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).status == 200
    assert refusals(client) == 0.0


@pytest.mark.parametrize("forwarded", [{}, {"X-Forwarded-For": "192.0.2.10"}, {"Forwarded": "for=192.0.2.10"}])
async def test_a_push_from_another_address_is_refused_and_counted(
    aiohttp_client: ClientFactory, gateway_settings: Settings, forwarded: dict[str, str]
) -> None:
    """A list without the client's address: OSS's refusal, nothing stored, counted; a forged header changes nothing."""
    client = await gateway(aiohttp_client, gateway_settings, "192.0.2.0/24")
    assert await push(client, **forwarded) == {"status": "2", "keterangan": "Alamat pengirim tidak diizinkan"}
    assert (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).status == 404
    assert refusals(client) == 1.0
