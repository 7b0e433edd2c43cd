"""gateway._oss_inbound: OSS's Token, POST /oss/receiveNIB, the stored NIB data and GET /v1/oss/nib/{nib}."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

import gateway.http._oss_inbound as inbound
from gateway import AgencyConfig, Settings, SqliteStore, build_app
from gateway.http import (
    DIRECTORY,
    JAKARTA,
    RECEIVE_PATH,
    TELEMETRY,
    error_middleware,
    mount_oss_inbound,
    oss_token,
    token_valid,
)
from gateway.store import StoreError, generate_data_key
from gateway.telemetry import Telemetry
from tests.fakes import KEY_A, KEY_NARROW, FakeAdapter, directory

USERNAME = "mpp-kota-bandung"
PASSWORD = "oss-inbound-Pw-83c1f0"
NIB = "9120001234561"
# 00:30 on 6 January in Jakarta, still 5 January in UTC: the Token's date must be Jakarta's.
NOW = dt.datetime(2026, 1, 5, 17, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 1, 6)
AUTH = {"Authorization": f"Bearer {KEY_A}"}
ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def token(day: dt.date = TODAY, nib: str = NIB, password: str = PASSWORD) -> str:
    return oss_token(USERNAME, password, nib, day)


def push(nib: str = NIB, **extra: Any) -> dict[str, Any]:
    """A dataNIB push as OSS sends it (trimmed), with a responsible person's personal data."""
    return {
        "dataNIB": {
            "nib": nib,
            "oss_id": "P02-202401150930120010042",
            "nama_perseroan": "PT SUMBER REJEKI TANI",
            "penanggung_jwb": [
                {"nama_penanggung_jwb": "SITI AMINAH", "no_identitas_penanggung_jwb": "3201014708900001"}
            ],
            "data_proyek": [{"id_proyek": "R-202401150931220120007", "kbli": "01112"}],
            **extra,
        }
    }


def oss_settings(**values: str) -> Settings:
    return Settings(agencies={"oss": AgencyConfig(base_url="http://127.0.0.1:9", adapter_settings=values)})


CONFIGURED = oss_settings(inbound_username=USERNAME, inbound_password=PASSWORD)


async def make_client(
    aiohttp_client: ClientFactory, tmp_path: Path, settings: Settings = CONFIGURED, store: Any = None
) -> TestClient[Any, Any]:
    """The inbound routes behind the gateway's own error and auth middleware, on a SQLite store, clock at NOW."""
    app = web.Application(middlewares=[error_middleware])
    app[DIRECTORY] = directory()
    app[TELEMETRY] = Telemetry()
    sqlite = SqliteStore(tmp_path / "gateway.sqlite3", synchronous="NORMAL")
    mount_oss_inbound(app, settings=settings, store=sqlite if store is None else store, clock=lambda: NOW)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await sqlite.open()
        yield
        await sqlite.aclose()

    app.cleanup_ctx.append(lifecycle)
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient[Any, Any]:
    """A configured inbound, no bearer key needed for OSS."""
    return await make_client(aiohttp_client, tmp_path)


async def receive(client: TestClient[Any, Any], body: Any, token_value: str | None) -> dict[str, str]:
    headers = {} if token_value is None else {"Token": token_value}
    resp = await client.post(RECEIVE_PATH, data=orjson.dumps(body), headers=headers)
    assert resp.status == 200
    assert resp.content_type == "application/json"
    reply: dict[str, str] = (await resp.json())["responreceiveNIB"]
    return reply


def test_token_is_sha1_of_username_password_nib_and_ymd() -> None:
    """The Token is lower-case hex SHA-1 of USERNAME + PASSWORD + NIB + Ymd (the guide's example, hashed)."""
    assert oss_token("OSS000", "qw13242628gssssss", "8123456547098", dt.date(2018, 5, 14)) == (
        "8337beef87dbbee844ed4bac7aa3be2a18d956d5"
    )


@pytest.mark.parametrize(
    ("presented", "valid"),
    [
        (token(TODAY), True),
        (token(TODAY - dt.timedelta(days=1)), True),
        (token(TODAY + dt.timedelta(days=1)), True),
        (token(TODAY).upper(), True),
        (f"  {token(TODAY)} ", True),
        (token(TODAY - dt.timedelta(days=2)), False),
        (token(TODAY + dt.timedelta(days=2)), False),
        (token(dt.date(2026, 1, 4)), False),
        (token(TODAY, password="wrong"), False),
        (token(TODAY, nib="9120001234562"), False),
        ("", False),
        ("not-a-token", False),
        (token(TODAY)[:39], False),
    ],
    ids=["today", "yesterday", "tomorrow", "upper-case", "padded", "two-days-ago", "in-two-days",
         "utc-yesterday-is-jakarta-two-days", "wrong-password", "other-nib", "empty", "garbage", "short"],
)
def test_token_window_is_jakarta_today_plus_minus_one(presented: str, valid: bool) -> None:
    """Today, yesterday and tomorrow in Jakarta are accepted; two days off, or another secret or NIB, are not."""
    assert token_valid(presented, username=USERNAME, password=PASSWORD, nib=NIB, now=NOW) is valid


def test_jakarta_is_utc_plus_seven() -> None:
    """WIB is a fixed UTC+7: NOW is already the 6th there."""
    assert NOW.astimezone(JAKARTA).date() == TODAY


async def test_push_is_stored_and_readable(client: TestClient[Any, Any]) -> None:
    """A push with the right Token is answered status 1, and a granted counter reads it back."""
    reply = await receive(client, push(), token())
    assert reply == {"status": "1", "keterangan": "Berhasil menyimpan data"}
    resp = await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)
    assert resp.status == 200
    stored = await resp.json()
    assert (stored["nib"], stored["oss_id"], stored["company_name"], stored["pushes"]) == (
        NIB, "P02-202401150930120010042", "PT SUMBER REJEKI TANI", 1
    )
    assert stored["data"] == push()["dataNIB"]
    assert stored["data"]["data_proyek"][0]["kbli"] == "01112"
    assert dt.datetime.fromisoformat(stored["received_at"]) == NOW


@pytest.mark.parametrize(
    "day", [TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)], ids=["yesterday", "tomorrow"]
)
async def test_push_with_neighbouring_days_token_is_accepted(client: TestClient[Any, Any], day: dt.date) -> None:
    """OSS's clock may be a day off around midnight: yesterday's and tomorrow's Tokens are accepted."""
    assert (await receive(client, push(), token(day)))["status"] == "1"


async def test_a_second_push_replaces_the_first(client: TestClient[Any, Any]) -> None:
    """The latest push wins, its count goes up, and the first arrival is kept."""
    await receive(client, push(), token())
    await receive(client, push(nama_perseroan="PT SUMBER REJEKI TANI ABADI"), token())
    stored = await (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).json()
    assert (stored["company_name"], stored["pushes"]) == ("PT SUMBER REJEKI TANI ABADI", 2)
    assert stored["first_received_at"] == stored["received_at"] == NOW.isoformat()


REFUSALS = [
    pytest.param(push(), token(TODAY - dt.timedelta(days=2)), "Token", id="token-two-days-old"),
    pytest.param(push(), token(TODAY + dt.timedelta(days=2)), "Token", id="token-two-days-ahead"),
    pytest.param(push(), token(password="guessed"), "Token", id="wrong-token"),
    pytest.param(push(), None, "Token", id="no-token"),
    pytest.param(push(nib="12345"), token(nib="12345"), "nib", id="malformed-nib"),
    pytest.param({"dataNIB": {"nib": 9120001234561}}, token(), "nib", id="nib-as-number"),
    pytest.param({"dataNIB": "x"}, token(), "dataNIB", id="dataNIB-not-an-object"),
    pytest.param({"NIB": push()["dataNIB"]}, token(), "dataNIB", id="no-dataNIB"),
    pytest.param([push()], token(), "dataNIB", id="body-a-list"),
]


@pytest.mark.parametrize(("body", "token_value", "reason"), REFUSALS)
async def test_refused_pushes_store_nothing(
    client: TestClient[Any, Any], body: Any, token_value: str | None, reason: str
) -> None:
    """Each bad push is answered status 2 in OSS's envelope, HTTP 200, and nothing is stored."""
    reply = await receive(client, body, token_value)
    assert reply["status"] == "2" and reason in reply["keterangan"]
    assert (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).status == 404


async def test_malformed_json_is_refused(client: TestClient[Any, Any]) -> None:
    """A body that is not JSON is refused in OSS's envelope."""
    resp = await client.post(RECEIVE_PATH, data=b'{"dataNIB": {"nib": "91', headers={"Token": token()})
    assert (await resp.json())["responreceiveNIB"]["status"] == "2"


async def test_oversized_push_is_refused(client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A body past the route's own limit is refused without being stored."""
    monkeypatch.setattr(inbound, "MAX_BODY", 200)
    reply = await receive(client, push(padding="x" * 500), token())
    assert reply["status"] == "2" and "batas" in reply["keterangan"]


@pytest.mark.parametrize(
    "settings",
    [Settings(), oss_settings(inbound_username=USERNAME), oss_settings(inbound_password=PASSWORD)],
    ids=["no-oss-settings", "no-password", "no-username"],
)
async def test_without_credentials_every_push_is_refused(
    aiohttp_client: ClientFactory, tmp_path: Path, settings: Settings
) -> None:
    """Without both inbound settings the route refuses, even a Token made with an empty secret."""
    client = await make_client(aiohttp_client, tmp_path, settings)
    for presented in (token(), oss_token("", "", NIB, TODAY), oss_token(USERNAME, "", NIB, TODAY)):
        reply = await receive(client, push(), presented)
        assert reply["status"] == "2" and "dikonfigurasi" in reply["keterangan"]


async def test_refusals_log_no_secret_or_personal_data(client: TestClient[Any, Any]) -> None:
    """A refused and an accepted push log their outcome, never the Token, the password or the people."""
    with capture_logs() as logs:
        await receive(client, push(), token(password="guessed"))
        await receive(client, push(), token())
    text = repr(logs)
    assert "oss.receive_nib.refused" in text and "oss.receive_nib.stored" in text
    for secret in (PASSWORD, token(), token(password="guessed"), "SITI AMINAH", "3201014708900001"):
        assert secret not in text


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
    """The read route needs a key granted oss.nib.received; every error is RFC 9457 problem+json."""
    resp = await client.get(path, headers=headers)
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == f"/problems/{slug}" and problem["status"] == status
    if slug == "validation-error":
        assert problem["errors"] == [{"field": "nib", "message": "13 digits"}]


async def test_the_oss_identity_opens_nothing_else(client: TestClient[Any, Any]) -> None:
    """The receiveNIB marking is for that path only: the read route still needs a key, GET on receiveNIB is 405."""
    await receive(client, push(), token())
    assert (await client.get(f"/v1/oss/nib/{NIB}")).status == 401
    resp = await client.get(RECEIVE_PATH)
    assert resp.status == 405 and resp.content_type == "application/problem+json"


async def test_a_store_without_the_table_refuses_and_says_so(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    """With a store that keeps no NIB data, pushes are refused and reads answer not-ready."""
    client = await make_client(aiohttp_client, tmp_path, store=object())
    assert (await receive(client, push(), token()))["status"] == "2"
    resp = await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)
    assert resp.status == 503 and (await resp.json())["type"] == "/problems/not-ready"


class _FailingStore:
    """A store whose database refuses the write."""

    async def save_nib(self, nib: str, **fields: Any) -> None:
        raise StoreError("the NIB data could not be stored")

    async def get_nib(self, nib: str) -> None:
        return None


async def test_a_failed_write_is_refused_in_osss_envelope(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    """When the store cannot keep a push, OSS is answered status 2 (so it sends again) and nothing is read back."""
    client = await make_client(aiohttp_client, tmp_path, store=_FailingStore())
    with capture_logs() as logs:
        reply = await receive(client, push(), token())
    assert reply == {"status": "2", "keterangan": "Gagal menyimpan data"}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["oss.receive_nib.store_failed"]
    assert (await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)).status == 404


async def test_the_composed_gateway_hosts_receive_nib(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    """build_app mounts the routes: OSS pushes without an API key, a counter reads with one."""
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys=generate_data_key(),
        sqlite_synchronous="NORMAL",
        agencies={
            "fake": AgencyConfig(base_url="http://127.0.0.1:9"),
            "oss": AgencyConfig(
                base_url="http://127.0.0.1:9",
                adapter_settings={"inbound_username": USERNAME, "inbound_password": PASSWORD},
            ),
        },
    )
    app = build_app(
        settings,
        clients=directory(),
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        factories={"fake": lambda context: FakeAdapter()},
    )
    client = await aiohttp_client(app)
    today = dt.datetime.now(JAKARTA).date()
    assert (await receive(client, push(), token(today)))["status"] == "1"
    resp = await client.get(f"/v1/oss/nib/{NIB}", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["pushes"] == 1
