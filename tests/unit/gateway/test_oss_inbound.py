"""OSS's inbound routes through the composed gateway: POST /oss/receiveNIB and GET /v1/oss/nib/{nib} on the wire.

The handlers' cases (Token window, each refusal, logs) are pinned in tests/adapters/oss/test_inbound.py; here the
gateway's part: where they mount, who may call them, the body limit, problems, and the store behind them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.oss import OssAdapter
from adapters.oss.inbound import JAKARTA, MAX_BODY, oss_token
from gateway import AgencyConfig, Settings, build_app
from tests.fakes import KEY_A, KEY_NARROW, FakeAdapter, directory

USERNAME = "mpp-kota-bandung"
PASSWORD = "oss-inbound-Pw-83c1f0"
NIB = "9120001234561"
NAME = "SITI AMINAH"
NIK = "3201014708900001"
AUTH = {"Authorization": f"Bearer {KEY_A}"}
ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
Start = Callable[..., Awaitable[TestClient[Any, Any]]]


def token(nib: str = NIB, password: str = PASSWORD) -> str:
    """OSS's Token for today in Jakarta."""
    return oss_token(USERNAME, password, nib, dt.datetime.now(JAKARTA).date())


def push(nib: str = NIB, **extra: Any) -> dict[str, Any]:
    """A dataNIB push as OSS sends it (trimmed), with a responsible person's personal data."""
    return {
        "dataNIB": {
            "nib": nib,
            "oss_id": "P02-202401150930120010042",
            "nama_perseroan": "PT SUMBER REJEKI TANI",
            "penanggung_jwb": [{"nama_penanggung_jwb": NAME, "no_identitas_penanggung_jwb": NIK}],
            "data_proyek": [{"id_proyek": "R-202401150931220120007", "kbli": "01112"}],
            **extra,
        }
    }


INBOUND = {"inbound_username": USERNAME, "inbound_password": PASSWORD}


@pytest.fixture
def start(aiohttp_client: ClientFactory, gateway_settings: Settings) -> Start:
    """A gateway on SQLite with the fake adapter and, unless told otherwise, OSS's with the given settings."""

    async def make(oss_settings: dict[str, str] | None = INBOUND, *, with_oss: bool = True) -> TestClient[Any, Any]:
        agencies = dict(gateway_settings.agencies)
        factories: dict[str, Any] = {"fake": lambda context: FakeAdapter()}
        if with_oss:
            agencies["oss"] = AgencyConfig(
                base_url="http://127.0.0.1:9", adapter_settings={"user_key": "k", **(oss_settings or {})}
            )
            factories["oss"] = OssAdapter
        app = build_app(
            dataclasses.replace(gateway_settings, agencies=agencies),
            clients=directory(),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
            factories=factories,
        )
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(start: Start) -> TestClient[Any, Any]:
    """A gateway whose OSS adapter has the inbound credentials."""
    return await start()


async def receive(client: TestClient[Any, Any], body: Any, token_value: str | None = None) -> dict[str, str]:
    """POST to receiveNIB without an API key; OSS's envelope, after checking the answer is HTTP 200 JSON."""
    headers = {} if token_value is None else {"Token": token_value}
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = await client.post("/oss/receiveNIB", data=io.BytesIO(raw), headers=headers)
    assert resp.status == 200
    assert resp.content_type == "application/json"
    reply: dict[str, str] = (await resp.json())["responreceiveNIB"]
    return reply


async def test_push_is_stored_and_readable(client: TestClient[Any, Any]) -> None:
    """A push with the right Token is answered status 1, without an API key, and a granted counter reads it back."""
    before = dt.datetime.now(dt.UTC)
    assert await receive(client, push(), token()) == {"status": "1", "keterangan": "Berhasil menyimpan data"}
    resp = await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)
    assert resp.status == 200 and resp.content_type == "application/json"
    stored = await resp.json()
    assert (stored["nib"], stored["oss_id"], stored["company_name"], stored["pushes"]) == (
        NIB, "P02-202401150930120010042", "PT SUMBER REJEKI TANI", 1
    )  # fmt: skip
    assert stored["data"] == push()["dataNIB"] and stored["data"]["data_proyek"][0]["kbli"] == "01112"
    received = dt.datetime.fromisoformat(stored["received_at"])
    assert before <= received <= dt.datetime.now(dt.UTC)
    assert stored["first_received_at"] == stored["received_at"]


async def test_a_second_push_is_the_latest_and_the_first_arrival_is_kept(client: TestClient[Any, Any]) -> None:
    """The latest push wins, the count goes up, and the first arrival is kept."""
    await receive(client, push(), token())
    await asyncio.sleep(0.002)
    await receive(client, push(nama_perseroan="PT SUMBER REJEKI TANI ABADI"), token())
    stored = await (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).json()
    assert (stored["company_name"], stored["pushes"]) == ("PT SUMBER REJEKI TANI ABADI", 2)
    assert stored["first_received_at"] < stored["received_at"]


@pytest.mark.parametrize(
    ("body", "token_value", "reason"),
    [
        pytest.param(push(), token(password="guessed"), "Token", id="wrong-token"),
        pytest.param(push(), None, "Token", id="no-token"),
        pytest.param(push(nib="12345"), token(nib="12345"), "nib", id="malformed-nib"),
        pytest.param({"NIB": push()["dataNIB"]}, token(), "dataNIB", id="no-dataNIB"),
        pytest.param(b'{"dataNIB": {"nib": "91', token(), "Format", id="malformed-json"),
    ],
)
async def test_refused_pushes_store_nothing(
    client: TestClient[Any, Any], body: Any, token_value: str | None, reason: str
) -> None:
    """Each bad push is answered status 2 in OSS's envelope, HTTP 200, and nothing is stored; a good one then is."""
    reply = await receive(client, body, token_value)
    assert reply["status"] == "2" and reason in reply["keterangan"]
    assert (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).status == 404
    assert (await receive(client, push(), token()))["status"] == "1"


async def test_a_push_over_the_routes_limit_is_refused_in_osss_envelope(client: TestClient[Any, Any]) -> None:
    """receiveNIB reads up to 4 MiB (more than the API's limit); past that OSS hears status 2 and nothing is kept."""
    fits = orjson.dumps(push(padding="x" * (64 * 1024)))  # over the API's own limit in these tests
    assert (await receive(client, fits, token()))["status"] == "1"
    too_big = orjson.dumps(push(nib="9120001234562", padding="x" * MAX_BODY))
    assert await receive(client, too_big, token("9120001234562")) == {
        "status": "2", "keterangan": "Ukuran data melebihi batas"}  # fmt: skip
    assert (await client.get("/v1/oss/nib/9120001234562", headers=AUTH)).status == 404


async def test_without_credentials_every_push_is_refused(start: Start) -> None:
    """An OSS adapter without the inbound username and password refuses every push."""
    client = await start({"inbound_username": USERNAME})
    reply = await receive(client, push(), token())
    assert reply["status"] == "2" and "dikonfigurasi" in reply["keterangan"]


@pytest.mark.parametrize(
    ("path", "headers", "status", "slug"),
    [
        (f"/v1/oss/nib/{NIB}", {}, 401, "unauthorized"),
        (f"/v1/oss/nib/{NIB}", {"Authorization": f"Bearer {KEY_NARROW}"}, 403, "forbidden"),
        (f"/v1/oss/nib/{NIB}", AUTH, 404, "not-found"),
        ("/v1/oss/nib/91200012345", AUTH, 422, "validation-error"),
    ],
    ids=["no-key", "not-granted", "never-pushed", "malformed-nib"],
)
async def test_read_route_errors_are_problems(
    client: TestClient[Any, Any], path: str, headers: dict[str, str], status: int, slug: str
) -> None:
    """The read route needs a key granted oss.nib.received; every error is the gateway's RFC 9457 problem+json."""
    resp = await client.get(path, headers=headers)
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == f"/problems/{slug}" and problem["status"] == status
    assert problem["title"] and problem["instance"] == path and len(problem["trace_id"]) == 32
    if slug == "validation-error":
        assert problem["errors"] == [{"field": "nib", "message": "13 digits"}]


async def test_only_receive_nib_is_open(client: TestClient[Any, Any]) -> None:
    """receiveNIB alone needs no key: the read route does, and another method on receiveNIB is not open either."""
    await receive(client, push(), token())
    assert (await client.get(f"/v1/oss/nib/{NIB}")).status == 401
    assert (await client.get("/oss/receiveNIB")).status == 401
    resp = await client.get("/oss/receiveNIB", headers=AUTH)
    assert resp.status == 405 and resp.content_type == "application/problem+json"


async def test_without_the_oss_adapter_there_are_no_oss_routes(start: Start) -> None:
    """The routes are the OSS adapter's: a gateway without it serves neither, nor describes them."""
    client = await start(with_oss=False)
    assert (await client.post("/oss/receiveNIB", data=orjson.dumps(push()), headers=AUTH)).status == 404
    assert (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).status == 404
    spec = await (await client.get("/openapi.json")).json()
    assert not [path for path in spec["paths"] if "oss" in path]


async def test_the_api_document_describes_both_routes(client: TestClient[Any, Any]) -> None:
    """receiveNIB is described without security, with its Token header; the read with its grant and problems."""
    spec = await (await client.get("/openapi.json")).json()
    receive_op = spec["paths"]["/oss/receiveNIB"]["post"]
    assert receive_op["security"] == [] and receive_op["tags"] == ["oss"]
    assert [(p["name"], p["in"], p["required"]) for p in receive_op["parameters"]] == [("Token", "header", True)]
    assert "dataNIB" in receive_op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(receive_op["responses"]) == {"200", "500"}
    read_op = spec["paths"]["/v1/oss/nib/{nib}"]["get"]
    assert "security" not in read_op and "oss.nib.received" in read_op["summary"]
    assert set(read_op["responses"]) == {"200", "401", "403", "404", "422", "429", "500", "503"}


async def test_pushed_personal_data_is_sealed_at_rest(client: TestClient[Any, Any], gateway_settings: Settings) -> None:
    """After a push, the SQLite file holds the sealed document and neither the person's name nor NIK."""
    await receive(client, push(), token())

    def database() -> bytes:
        files = (Path(gateway_settings.store_path), Path(gateway_settings.store_path + "-wal"))
        return b"".join(p.read_bytes() for p in files if p.exists())

    stored = await asyncio.to_thread(database)
    assert b"mppenc:v1:test:" in stored and NIB.encode() in stored
    assert NAME.encode() not in stored and NIK.encode() not in stored
