"""mocks.bpjs_kesehatan: VClaim v2 over real sockets, spoken to by a minimal client of the published algorithm."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.bpjs_kesehatan.lzstring import decompress_from_encoded_uri_component
from mocks import Citizen, Control, Population, bpjs_kesehatan
from mocks.bpjs_crypto import compress_to_encoded_uri_component, encrypt, response_key, signature
from tests import fixtures

CONS_ID = "27182"
SECRET = "mock-test-secret-Qx7"
USER_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
NOW = 1_767_582_000.0  # 2026-01-05 03:00 UTC, 10:00 WIB
DATE = "2026-01-05"


class MinimalVClaim:
    """A VClaim client written from docs/agencies.md alone: hashlib, hmac, cryptography and an lz-string decompressor.

    It shares no code with the mock, so the mock is proven against the published algorithm, not against itself.
    """

    def __init__(self, http: aiohttp.ClientSession, base: str, *, secret: str = SECRET, now: float = NOW) -> None:
        self.http = http
        self.base = base
        self.secret = secret
        self.now = now

    def headers(self, timestamp: str | None = None, **changes: str) -> dict[str, str]:
        stamp = timestamp or str(int(self.now))
        digest = hmac.new(self.secret.encode(), f"{CONS_ID}&{stamp}".encode(), hashlib.sha256).digest()
        headers = {
            "X-cons-id": CONS_ID,
            "X-timestamp": stamp,
            "X-signature": base64.b64encode(digest).decode(),
            "user_key": USER_KEY,
        }
        return {**headers, **changes}

    def open(self, encrypted: str, timestamp: str) -> Any:
        key = hashlib.sha256(f"{CONS_ID}{self.secret}{timestamp}".encode()).digest()
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
        return json.loads(decompress_from_encoded_uri_component(plain.decode("ascii")))

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """GET and return the HTTP status and the envelope (its response decrypted when it is a string)."""
        sent = headers if headers is not None else self.headers()
        async with self.http.get(self.base + path, headers=sent) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
            status = resp.status
        if isinstance(body.get("response"), str):
            stamp = next(value for key, value in sent.items() if key.lower() == "x-timestamp")
            body["response"] = self.open(body["response"], stamp)
        return status, body


@pytest.fixture(scope="module")
def people() -> Population:
    """A small population with every status in it."""
    return Population.generate(seed=2026, size=60)


@pytest.fixture
def control(people: Population) -> Control:
    """The mock's test controls."""
    return Control("bpjs-kesehatan", people)


@pytest.fixture
async def server(people: Population, control: Control) -> AsyncIterator[TestServer]:
    """The mock on a real loopback socket, its clock fixed at NOW."""
    app = bpjs_kesehatan.create_app(
        people, cons_id=CONS_ID, consumer_secret=SECRET, user_key=USER_KEY, control=control, clock=lambda: NOW
    )
    running = TestServer(app, host="127.0.0.1")
    await running.start_server()
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def vclaim(server: TestServer) -> AsyncIterator[MinimalVClaim]:
    """The minimal client pointed at /vclaim-rest."""
    async with aiohttp.ClientSession() as http:
        yield MinimalVClaim(http, str(server.make_url("/vclaim-rest")))


def _citizen(people: Population, status: str = "active") -> Citizen:
    return people.sample(status, limit=1)[0]  # type: ignore[arg-type]


async def test_found_by_nik_with_the_published_algorithm(vclaim: MinimalVClaim, people: Population) -> None:
    """An independent client's signed request finds the citizen, and its own decryption opens the reply."""
    citizen = _citizen(people)
    status, body = await vclaim.get(f"/Peserta/nik/{citizen.nik}/tglSEP/{DATE}")
    assert status == 200
    assert body["metaData"] == {"code": "200", "message": "OK"}
    record = body["response"]["peserta"]
    assert (record["nik"], record["noKartu"], record["nama"]) == (citizen.nik, citizen.no_kartu, citizen.full_name)
    assert record["tglLahir"] == citizen.birth_date.isoformat()
    assert record["statusPeserta"] == {"kode": "0", "keterangan": "AKTIF"}
    assert record["hakKelas"]["kode"] == str(citizen.bpjs_class)
    assert record["sex"] == ("L" if citizen.sex == "LAKI-LAKI" else "P")


async def test_found_by_card(vclaim: MinimalVClaim, people: Population) -> None:
    """The card lookup finds the same person by their 13-digit card."""
    citizen = _citizen(people)
    _, body = await vclaim.get(f"/Peserta/nokartu/{citizen.no_kartu}/tglSEP/{DATE}")
    assert body["response"]["peserta"]["nik"] == citizen.nik


async def test_every_documented_field_is_there(vclaim: MinimalVClaim, people: Population) -> None:
    """The participant carries every documented field, dates as yyyy-MM-dd strings."""
    _, body = await vclaim.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}")
    record = body["response"]["peserta"]
    assert set(record) == set(fixtures.load("bpjs_kesehatan", "peserta_active")["peserta"])
    for key in ("tglLahir", "tglTMT", "tglTAT"):
        assert dt.date.fromisoformat(record[key]).isoformat() == record[key]
    assert set(record["umur"]) == {"umurSaatPelayanan", "umurSekarang"}
    assert set(record["mr"]) == {"noMR", "noTelepon"}


@pytest.mark.parametrize(
    ("status", "code", "label"), [("deceased", "1", "MENINGGAL"), ("inactive", "9", "NON AKTIF KARNA PREMI")]
)
async def test_deceased_and_inactive_are_found_with_their_state(
    vclaim: MinimalVClaim, people: Population, status: str, code: str, label: str
) -> None:
    """Deceased and inactive citizens are answered (code 200) with a not-active statusPeserta."""
    _, body = await vclaim.get(f"/Peserta/nik/{_citizen(people, status).nik}/tglSEP/{DATE}")
    assert body["metaData"]["code"] == "200"
    assert body["response"]["peserta"]["statusPeserta"] == {"kode": code, "keterangan": label}


async def test_a_lapsed_participant_has_a_null_primary_care_provider(vclaim: MinimalVClaim, people: Population) -> None:
    """Cover lapsed for unpaid premiums (status 9): provUmum keeps its keys, both null, as VClaim sends it."""
    _, body = await vclaim.get(f"/Peserta/nik/{_citizen(people, 'inactive').nik}/tglSEP/{DATE}")
    assert body["response"]["peserta"]["provUmum"] == {"kdProvider": None, "nmProvider": None}
    _, active = await vclaim.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}")
    assert all(isinstance(value, str) for value in active["response"]["peserta"]["provUmum"].values())


def _unknown_card(people: Population) -> str:
    return next(c for c in (f"{n:013d}" for n in range(1, 100)) if c not in {p.no_kartu for p in people})


NOT_FOUND = [
    pytest.param(lambda p: f"/Peserta/nik/{p.unknown_nik()}/tglSEP/{DATE}", id="unknown-nik"),
    pytest.param(lambda p: f"/Peserta/nik/0000000000000000/tglSEP/{DATE}", id="newborn-placeholder-nik"),
    pytest.param(lambda p: f"/Peserta/nik/320101470890001/tglSEP/{DATE}", id="nik-15-digits"),
    pytest.param(lambda p: f"/Peserta/nik/32010147089000AB/tglSEP/{DATE}", id="nik-letters"),
    pytest.param(lambda p: f"/Peserta/nokartu/{_unknown_card(p)}/tglSEP/{DATE}", id="unknown-card"),
    pytest.param(lambda p: f"/Peserta/nokartu/000123456789/tglSEP/{DATE}", id="card-12-digits"),
    pytest.param(lambda p: f"/Peserta/nokartu/{p.citizens[0].no_kartu}/tglSEP/05-01-2026", id="date-dd-mm-yyyy"),
    pytest.param(lambda p: f"/Peserta/nokartu/{p.citizens[0].no_kartu}/tglSEP/2026-02-30", id="impossible-date"),
]


@pytest.mark.parametrize("path", NOT_FOUND)
async def test_no_data_is_201_with_a_null_response(vclaim: MinimalVClaim, people: Population, path: Any) -> None:
    """Unknown or malformed numbers and bad dates are HTTP 200, metaData code "201", response null."""
    status, body = await vclaim.get(path(people))
    assert status == 200
    assert body["metaData"]["code"] == "201"
    assert body["metaData"]["message"]
    assert body["response"] is None


def _refusals() -> list[Any]:
    stamp = str(int(NOW))
    return [
        pytest.param(lambda v: {}, "401", id="no-headers"),
        pytest.param(lambda v: {k: x for k, x in v.headers().items() if k != "X-signature"}, "401", id="no-signature"),
        pytest.param(lambda v: v.headers(**{"X-cons-id": "99999"}), "401", id="wrong-cons-id"),
        pytest.param(
            lambda v: v.headers(**{"X-signature": signature(CONS_ID, "other", stamp)}), "401", id="wrong-secret"
        ),
        pytest.param(lambda v: v.headers(**{"X-timestamp": "1767582000.0"}), "401", id="timestamp-not-an-integer"),
        pytest.param(lambda v: v.headers(str(int(NOW) - 301)), "408", id="stale-by-301s"),
        pytest.param(lambda v: v.headers(str(int(NOW) + 301)), "408", id="ahead-by-301s"),
        pytest.param(lambda v: v.headers(user_key="0" * 32), "403", id="wrong-user-key"),
        pytest.param(lambda v: {k: x for k, x in v.headers().items() if k != "user_key"}, "403", id="no-user-key"),
    ]


@pytest.mark.parametrize(("headers", "code"), _refusals())
async def test_refusals_are_plain_error_envelopes(
    vclaim: MinimalVClaim, people: Population, headers: Any, code: str
) -> None:
    """A missing or wrong credential, or a stale timestamp, is HTTP 200 with a plain metaData error and no data."""
    status, body = await vclaim.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}", headers(vclaim))
    assert status == 200
    assert body["metaData"]["code"] == code
    assert body["response"] is None


@pytest.mark.parametrize("offset", [-300, 0, 300])
async def test_the_window_is_five_minutes_either_way(vclaim: MinimalVClaim, people: Population, offset: int) -> None:
    """Timestamps up to 300 s from the mock's clock are accepted, and each reply opens with its own timestamp."""
    stamp = str(int(NOW) + offset)
    _, body = await vclaim.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}", vclaim.headers(stamp))
    assert body["metaData"]["code"] == "200"
    assert body["response"]["peserta"]


async def test_the_reply_is_encrypted_for_the_callers_timestamp(vclaim: MinimalVClaim, people: Population) -> None:
    """The same question at two timestamps gives two ciphertexts, each opened only by its own key."""
    path = vclaim.base + f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}"
    answers = {}
    for stamp in (str(int(NOW)), str(int(NOW) + 1)):
        async with vclaim.http.get(path, headers=vclaim.headers(stamp)) as resp:
            answers[stamp] = (await resp.json())["response"]
    first, second = answers.values()
    assert first != second
    assert vclaim.open(first, str(int(NOW))) == vclaim.open(second, str(int(NOW) + 1))
    with pytest.raises(ValueError, match="padding"):
        vclaim.open(first, str(int(NOW) + 1))


async def test_header_names_are_case_insensitive(vclaim: MinimalVClaim, people: Population) -> None:
    """X-Timestamp, X-Signature, X-CONS-ID and User_Key work as well as the documented spellings."""
    sent = {key.title() if key != "X-cons-id" else "X-CONS-ID": value for key, value in vclaim.headers().items()}
    assert "X-Timestamp" in sent and "User_Key" in sent
    status, body = await vclaim.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}", sent)
    assert (status, body["metaData"]["code"]) == (200, "200")


async def test_the_development_base_path_answers_too(vclaim: MinimalVClaim, people: Population) -> None:
    """/vclaim-rest-dev serves the same VClaim."""
    dev = MinimalVClaim(vclaim.http, vclaim.base.replace("/vclaim-rest", "/vclaim-rest-dev"))
    _, body = await dev.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}")
    assert body["metaData"]["code"] == "200"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/vclaim-rest/Peserta/nik/3201014708900001"),
        ("GET", "/vclaim-rest/peserta/nik/3201014708900001/tglSEP/2026-01-05"),
        ("POST", "/vclaim-rest/Peserta/nik/3201014708900001/tglSEP/2026-01-05"),
        ("GET", "/antreanrs/ref/poli"),
        ("GET", "/pcare-rest/peserta/0001234567890"),
        ("GET", "/apotek-rest/referensi/dpho"),
        ("GET", "/"),
    ],
)
async def test_unknown_paths_meet_the_html_error_page(
    vclaim: MinimalVClaim, server: TestServer, method: str, path: str
) -> None:
    """Paths VClaim does not serve, and the other services for now, get the front proxy's HTML 404."""
    async with vclaim.http.request(method, str(server.make_url(path)), headers=vclaim.headers()) as resp:
        assert resp.status == 404
        assert resp.content_type == "text/html"
        assert "<html>" in await resp.text()


@pytest.mark.parametrize("content_type", ["Application/x-www-form-urlencoded", "application/json", None])
async def test_json_bodies_are_read_under_either_content_type(vclaim: MinimalVClaim, content_type: str | None) -> None:
    """A JSON body sent as form-urlencoded (the VClaim quirk) or as JSON is read as JSON and echoed encrypted."""
    headers = vclaim.headers()
    if content_type is not None:
        headers["Content-Type"] = content_type
    sent = {"request": {"t_sep": {"noKartu": "0001234567890", "catatan": "Kontrol rutin \u2014 poli"}}}
    async with vclaim.http.post(vclaim.base + "/_mock/echo", data=json.dumps(sent).encode(), headers=headers) as resp:
        body = await resp.json()
    assert body["metaData"]["code"] == "200"
    assert vclaim.open(body["response"], headers["X-timestamp"]) == sent


async def test_a_body_that_is_not_json_is_refused(vclaim: MinimalVClaim) -> None:
    """A POST body that is not JSON is a 201 with no data."""
    headers = {**vclaim.headers(), "Content-Type": "Application/x-www-form-urlencoded"}
    async with vclaim.http.post(vclaim.base + "/_mock/echo", data=b"noKartu=0001&x=1", headers=headers) as resp:
        body = await resp.json()
    assert (body["metaData"]["code"], body["response"]) == ("201", None)


async def test_posts_are_signed_like_gets(vclaim: MinimalVClaim) -> None:
    """The echo route refuses an unsigned request like every VClaim route."""
    async with vclaim.http.post(vclaim.base + "/_mock/echo", data=b"{}") as resp:
        assert (await resp.json())["metaData"]["code"] == "401"


async def test_deliveries_are_counted_per_method(vclaim: MinimalVClaim, people: Population, control: Control) -> None:
    """Each processed request counts under its method, refused ones included; control routes do not count."""
    nik = _citizen(people).nik
    await vclaim.get(f"/Peserta/nik/{nik}/tglSEP/{DATE}")
    await vclaim.get(f"/Peserta/nik/{nik}/tglSEP/{DATE}", {})
    await vclaim.get(f"/Peserta/nokartu/{people.citizens[0].no_kartu}/tglSEP/{DATE}")
    async with vclaim.http.get(vclaim.base.replace("/vclaim-rest", "/_control/deliveries")) as resp:
        snapshot = await resp.json()
    assert snapshot["by_method"] == {"Peserta/nik": 2, "Peserta/nokartu": 1}


@pytest.mark.parametrize(("fault", "status"), [("html_rate", 502), ("error_rate", 503), ("rate_limit_rate", 429)])
async def test_faults_strike_vclaim_routes_then_clear(
    vclaim: MinimalVClaim, people: Population, control: Control, fault: str, status: int
) -> None:
    """The shared fault injector applies to VClaim routes; after a reset, VClaim answers again."""
    path = vclaim.base + f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}"
    control.faults.configure({fault: 1.0})
    async with vclaim.http.get(path, headers=vclaim.headers()) as resp:
        assert resp.status == status
    control.reset()
    _, body = await vclaim.get(f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}")
    assert body["metaData"]["code"] == "200"


def test_mock_compressor_reproduces_the_reference_vectors() -> None:
    """The mock's compressToEncodedURIComponent gives, character for character, what the reference JavaScript gave."""
    for vector in fixtures.load("bpjs_kesehatan", "lzstring_vectors")["vectors"]:
        assert compress_to_encoded_uri_component(vector["text"]) == vector["compressed"], vector["name"]


def test_mock_crypto_reproduces_the_check_vectors() -> None:
    """The mock signs, derives keys and encrypts exactly as the docs/agencies.md check vectors say."""
    assert signature("1234", "pwd", "433223232") == "eXMtvX2r7e7CLCIu3kpEpCrvciZgK8FuOhKv06NDAHk="
    key = response_key("1234", "pwd", "433223232")
    assert key.hex() == "f75bf2014da65c8f1c39a47de848ba383d051f4e218fa70774fcd3fb216c5f9b"
    assert encrypt('{"hello":"world"}', key) == "/lGe64oqzlkT2FbRXudN0DfFdrozG20Tp8oXdeg2rGo="


def test_a_participant_is_the_same_every_time(people: Population) -> None:
    """peserta() depends on the citizen and the dates only: the same person always looks the same."""
    citizen = _citizen(people)
    day = dt.date(2026, 1, 5)
    assert bpjs_kesehatan.peserta(citizen, day, today=day) == bpjs_kesehatan.peserta(citizen, day, today=day)


@pytest.mark.parametrize(
    ("born", "on", "text"),
    [
        (dt.date(1990, 8, 7), dt.date(2026, 1, 5), "35 tahun ,4 bulan ,29 hari"),
        (dt.date(1990, 1, 31), dt.date(2026, 3, 1), "36 tahun ,1 bulan ,1 hari"),
        (dt.date(2025, 12, 5), dt.date(2026, 1, 5), "0 tahun ,1 bulan ,0 hari"),
        (dt.date(2026, 1, 5), dt.date(2026, 1, 5), "0 tahun ,0 bulan ,0 hari"),
    ],
)
def test_ages_are_vclaims_text(people: Population, born: dt.date, on: dt.date, text: str) -> None:
    """umurSaatPelayanan is years, months and days on the service date, in VClaim's spacing."""
    import dataclasses

    citizen = dataclasses.replace(_citizen(people), birth_date=born)
    assert bpjs_kesehatan.peserta(citizen, on, today=on)["umur"]["umurSaatPelayanan"] == text


def test_create_app_refuses_a_negative_window_and_a_foreign_control(people: Population) -> None:
    """A negative skew, or a control watching another population, is a setup error."""
    with pytest.raises(ValueError, match="max_skew_seconds"):
        bpjs_kesehatan.create_app(people, cons_id="1", consumer_secret="s", user_key="k", max_skew_seconds=-1)
    other = Control("bpjs-kesehatan", Population.generate(seed=1, size=5))
    with pytest.raises(ValueError, match="same population"):
        bpjs_kesehatan.create_app(people, cons_id="1", consumer_secret="s", user_key="k", control=other)


async def test_a_custom_window_and_the_real_clock(people: Population) -> None:
    """With max_skew_seconds=0 and the default clock, only a timestamp of this very second (or the last) passes."""
    app: web.Application = bpjs_kesehatan.create_app(
        people, cons_id=CONS_ID, consumer_secret=SECRET, user_key=USER_KEY, max_skew_seconds=1
    )
    async with TestServer(app, host="127.0.0.1") as running, aiohttp.ClientSession() as http:
        client = MinimalVClaim(http, str(running.make_url("/vclaim-rest")), now=time.time())
        path = f"/Peserta/nik/{_citizen(people).nik}/tglSEP/{DATE}"
        assert (await client.get(path))[1]["metaData"]["code"] == "200"
        assert (await client.get(path, client.headers(str(int(time.time()) - 10))))[1]["metaData"]["code"] == "408"
