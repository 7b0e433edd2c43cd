"""The BPJS Ketenagakerjaan mock (the project's own wire format): memberships, BPU registrations, idempotency."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from adapters.bpjs_ketenagakerjaan.errors import RESULT_CODES
from mocks import AGENCY_PORTS, REFERENCE_DATE, Citizen, Control, Population, start_mocks
from mocks.bpjs_ketenagakerjaan import REGISTRATIONS_KEY, RESULTS, contribution, create_app, membership
from tests import fixtures

API_KEY = "mock-test-key-5b0e"
VERIFY, REGISTER, STATUS = "/api/v1/peserta/cek", "/api/v1/peserta/bpu", "/api/v1/peserta/bpu/status"
HEADERS = {"X-Api-Key": API_KEY}


def body(nik: str, reference: str = "req_A", **changes: Any) -> dict[str, Any]:
    """A valid registration body for ``nik``."""
    return {
        "referensi": reference,
        "nik": nik,
        "pekerjaan": "PEDAGANG",
        "penghasilan": "P1",
        "program": ["JKK", "JKM"],
        "no_hp": "6281234567890",
        "alamat": {"jalan": "JL. MAWAR NO. 3", "rt": "003", "rw": "001", "kelurahan": "BRAGA",
                   "kecamatan": "SUMUR BANDUNG", "kabupaten": "KOTA BANDUNG", "provinsi": "JAWA BARAT",
                   "kode_pos": None},
        **changes,
    }


def recorded(name: str) -> dict[str, Any]:
    """The recorded reference reply ``name`` (tests/fixtures/bpjs_ketenagakerjaan)."""
    return fixtures.load("bpjs_ketenagakerjaan", name)


def first(population: Population, rule: Callable[[Citizen], bool]) -> Citizen:
    """The first citizen the rule picks; the seeded population always has one."""
    found = next((c for c in population if rule(c)), None)
    assert found is not None, "the seeded population has nobody of this kind"
    return found


def eligible(c: Citizen) -> bool:
    return c.status == "active" and 18 <= c.age(REFERENCE_DATE) < 65


def newcomer(c: Citizen) -> bool:
    return eligible(c) and c.kpj is None


def active_member(c: Citizen) -> bool:
    held = membership(c)
    return eligible(c) and held is not None and held["status"] == "AKTIF"


def lapsed_member(c: Citizen) -> bool:
    held = membership(c)
    return eligible(c) and held is not None and held["status"] == "NONAKTIF"


def shape(value: Any) -> Any:
    """The keys and JSON types of ``value``, recursively: what the adapter relies on, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def registered(mock: TestClient[Any, Any]) -> int:
    """How many registrations the mock holds."""
    assert mock.app is not None
    return len(mock.app[REGISTRATIONS_KEY])


@pytest.fixture
def control(population: Population) -> Control:
    return Control("bpjs-ketenagakerjaan", population)


@pytest.fixture
async def mock(aiohttp_client: AiohttpClient, population: Population, control: Control) -> TestClient[Any, Any]:
    """The mock on a loopback socket with a fixed clock."""
    clock = lambda: dt.datetime(2026, 1, 5, 9, 41, 27, tzinfo=dt.timezone(dt.timedelta(hours=7)))  # noqa: E731
    return await aiohttp_client(create_app(population, api_key=API_KEY, control=control, clock=clock))


async def post(mock: TestClient[Any, Any], path: str, data: Any, headers: dict[str, str] = HEADERS) -> tuple[int, Any]:
    async with mock.post(path, json=data, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_member_lookup_has_the_fixtures_shape(mock: TestClient[Any, Any], population: Population) -> None:
    """An active wage earner answers 00 with the data shape of the adapter's reference reply."""
    citizen = first(population, lambda c: active_member(c) and membership(c)["kategori"] == "PU")  # type: ignore[index]
    status, reply = await post(mock, VERIFY, {"nik": citizen.nik})
    assert (status, reply["kode"]) == (200, "00")
    assert shape(reply) == shape(recorded("verify_member_pu"))
    assert reply["data"]["kpj"] == citizen.kpj
    assert reply["data"] == membership(citizen)


@pytest.mark.parametrize("who", ["no-kpj", "unknown"])
async def test_non_member_is_code_10(mock: TestClient[Any, Any], population: Population, who: str) -> None:
    """A citizen without a KPJ, or a NIK nobody holds, answers 404 with code 10 and no data."""
    nik = first(population, lambda c: c.kpj is None).nik if who == "no-kpj" else population.unknown_nik()
    status, reply = await post(mock, VERIFY, {"nik": nik})
    assert (status, reply) == (404, recorded("verify_not_member"))


def test_membership_rules() -> None:
    """Programmes follow the category, a KPJ ending in 0 or a deceased holder lapses, nobody without a KPJ is one."""
    population = Population.generate(seed=2026)
    members = [(c, membership(c)) for c in population if c.kpj is not None]
    assert all(membership(c) is None for c in population if c.kpj is None)
    for citizen, held in members:
        assert held is not None
        lapsed = citizen.status == "deceased" or citizen.kpj.endswith("0")  # type: ignore[union-attr]
        assert held["status"] == ("NONAKTIF" if lapsed else "AKTIF")
        if held["kategori"] == "BPU":
            assert {"JKK", "JKM"} <= set(held["program"]) <= {"JKK", "JKM", "JHT"}
        else:
            assert {"JHT", "JKK", "JKM"} <= set(held["program"])
        assert dt.date.fromisoformat(held["tgl_kepesertaan"]) <= REFERENCE_DATE
    assert {held["kategori"] for _, held in members} == {"PU", "BPU"}  # type: ignore[index]


def test_contribution_follows_the_bpu_rules() -> None:
    """JKK 1% and JHT 2% of the band's floor plus JKM Rp 6,800: the well-known Rp 16,800 minimum."""
    assert contribution("P1", ["JKK", "JKM"]) == 16_800
    assert contribution("P2", ["JHT", "JKK", "JKM"]) == 66_800
    assert contribution("P5", ["JKK", "JKM"]) == 106_800


async def test_registration_creates_a_new_kpj(mock: TestClient[Any, Any], population: Population) -> None:
    """An eligible newcomer is registered: 201, a fresh 11-digit KPJ, the fixture's data shape."""
    citizen = first(population, newcomer)
    status, reply = await post(mock, REGISTER, body(citizen.nik))
    assert (status, reply["kode"]) == (201, "00")
    assert shape(reply) == shape(recorded("register_created"))
    data = reply["data"]
    assert re.fullmatch(r"[0-9]{11}", data["kpj"])
    assert data["kpj"] not in {c.kpj for c in population}
    assert (data["referensi"], data["status"], data["iuran_bulanan"]) == ("req_A", "MENUNGGU_IURAN_PERTAMA", 16_800)
    assert data["kode_iuran"] == f"89{data['kpj']}001"
    assert data["tgl_daftar"] == "2026-01-05T09:41:27+07:00"


async def test_same_reference_twice_is_one_registration_two_deliveries(
    mock: TestClient[Any, Any], population: Population, control: Control
) -> None:
    """A resend with the same reference and body answers the same registration; both deliveries are counted."""
    citizen = first(population, newcomer)
    first_status, first_reply = await post(mock, REGISTER, body(citizen.nik, "req_TWICE"))
    again_status, again_reply = await post(mock, REGISTER, body(citizen.nik, "req_TWICE"))
    assert (first_status, again_status) == (201, 200)
    assert again_reply == first_reply
    assert control.deliveries.count(reference="req_TWICE") == 2
    assert registered(mock) == 1


async def test_same_reference_other_body_is_code_21(mock: TestClient[Any, Any], population: Population) -> None:
    """Reusing a reference for a different registration is refused with 409 code 21."""
    citizen = first(population, newcomer)
    await post(mock, REGISTER, body(citizen.nik, "req_REUSED"))
    status, reply = await post(mock, REGISTER, body(citizen.nik, "req_REUSED", penghasilan="P3"))
    assert (status, reply["kode"]) == (409, "21")


async def test_second_registration_of_a_nik_is_code_20(mock: TestClient[Any, Any], population: Population) -> None:
    """The same NIK under a new reference, or an active member, is already registered: 409 code 20."""
    newcomer_nik = first(population, newcomer).nik
    await post(mock, REGISTER, body(newcomer_nik, "req_ONE"))
    again = await post(mock, REGISTER, body(newcomer_nik, "req_TWO"))
    assert again == (409, recorded("code_20_already_registered"))
    member = first(population, active_member)
    status, reply = await post(mock, REGISTER, body(member.nik, "req_THREE"))
    assert (status, reply["kode"]) == (409, "20")


async def test_lapsed_member_is_reregistered_under_their_kpj(
    mock: TestClient[Any, Any], population: Population
) -> None:
    """A lapsed member may register as BPU and keeps the KPJ they had."""
    citizen = first(population, lapsed_member)
    status, reply = await post(mock, REGISTER, body(citizen.nik, "req_LAPSED"))
    assert (status, reply["data"]["kpj"]) == (201, citizen.kpj)


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("unknown", "11"),
        ("deceased", "13"),
        ("inactive", "14"),
        ("minor", "31"),
        ("senior", "31"),
    ],
)
async def test_identity_and_eligibility_refusals(
    mock: TestClient[Any, Any], population: Population, who: str, code: str
) -> None:
    """Unknown, deceased and inactive NIKs and ages outside 18-64 are refused with their codes, nothing stored."""
    rules: dict[str, Callable[[Citizen], bool]] = {
        "deceased": lambda c: c.status == "deceased",
        "inactive": lambda c: c.status == "inactive",
        "minor": lambda c: c.status == "active" and c.age(REFERENCE_DATE) < 18,
        "senior": lambda c: c.status == "active" and c.age(REFERENCE_DATE) >= 65,
    }
    nik = population.unknown_nik() if who == "unknown" else first(population, rules[who]).nik
    status, reply = await post(mock, REGISTER, body(nik))
    assert (status, reply["kode"], reply["data"]) == (RESULTS[code][0], code, None)
    assert registered(mock) == 0


INVALID = [
    pytest.param({"pekerjaan": "ASTRONOT"}, ["pekerjaan"], id="occupation"),
    pytest.param({"penghasilan": "P9"}, ["penghasilan"], id="income"),
    pytest.param({"program": ["JKK", "JKM", "JP"]}, ["program"], id="pension"),
    pytest.param({"program": ["JKK"]}, ["program"], id="no-jkm"),
    pytest.param({"program": "JKK,JKM"}, ["program"], id="programmes-not-a-list"),
    pytest.param({"no_hp": "081234567890"}, ["no_hp"], id="phone-local-form"),
    pytest.param({"email": "nobody"}, ["email"], id="email"),
    pytest.param({"alamat": None}, ["alamat"], id="no-address"),
    pytest.param({"alamat": {"jalan": "X"}}, ["alamat.kelurahan", "alamat.kecamatan", "alamat.kabupaten",
                                              "alamat.provinsi"], id="address-incomplete"),
    pytest.param({"nik": "123"}, ["nik"], id="nik-format"),
]


@pytest.mark.parametrize(("changes", "fields"), INVALID)
async def test_invalid_fields_are_code_30_with_the_fields(
    mock: TestClient[Any, Any], population: Population, changes: dict[str, Any], fields: list[str]
) -> None:
    """Each broken field is named under kesalahan in a 422 code 30, shaped as the adapter's reference reply."""
    status, reply = await post(mock, REGISTER, {**body(first(population, newcomer).nik), **changes})
    assert (status, reply["kode"]) == (422, "30")
    assert [item["field"] for item in reply["kesalahan"]] == fields
    assert shape(reply["kesalahan"][0]) == shape(recorded("code_30_invalid_data")["kesalahan"][0])


async def test_registration_shows_in_lookup_and_status(mock: TestClient[Any, Any], population: Population) -> None:
    """After registering, the lookup shows a BPU member awaiting payment and the enquiry returns the registration."""
    citizen = first(population, newcomer)
    _, created = await post(mock, REGISTER, body(citizen.nik, "req_SEEN"))
    _, member = await post(mock, VERIFY, {"nik": citizen.nik})
    assert member["data"] == {"kpj": created["data"]["kpj"], "kategori": "BPU", "status": "MENUNGGU_IURAN_PERTAMA",
                              "program": ["JKK", "JKM"], "tgl_kepesertaan": "2026-01-05"}
    assert await post(mock, STATUS, {"referensi": "req_SEEN", "nik": citizen.nik}) == (200, created)


@pytest.mark.parametrize("ask", ["other-nik", "unknown-reference"])
async def test_status_without_a_match_is_code_12(mock: TestClient[Any, Any], population: Population, ask: str) -> None:
    """An unknown reference, or a known one asked with another NIK, is 404 code 12: nothing is disclosed."""
    citizen = first(population, newcomer)
    await post(mock, REGISTER, body(citizen.nik, "req_MINE"))
    enquiry = {"referensi": "req_MINE", "nik": population.unknown_nik()}
    if ask == "unknown-reference":
        enquiry = {"referensi": "req_NONE", "nik": citizen.nik}
    assert await post(mock, STATUS, enquiry) == (404, recorded("code_12_registration_not_found"))


@pytest.mark.parametrize("path", [VERIFY, REGISTER, STATUS])
@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}], ids=["missing", "wrong"])
async def test_bad_api_key_is_code_40_and_still_a_delivery(
    mock: TestClient[Any, Any], control: Control, path: str, headers: dict[str, str]
) -> None:
    """Every route refuses a missing or wrong key with 401 code 40; the request still counts as delivered."""
    assert await post(mock, path, {"nik": "x"}, headers) == (401, recorded("code_40_bad_api_key"))
    assert control.deliveries.count() == 1


@pytest.mark.parametrize(("path", "data"), [(VERIFY, {}), (VERIFY, [1]), (STATUS, {"referensi": 1}),
                                            (REGISTER, {"nik": "x"}), (REGISTER, {"referensi": "a b", "nik": "x"})])
async def test_unreadable_requests_are_code_39(mock: TestClient[Any, Any], path: str, data: Any) -> None:
    """A body without the keys a route needs is 400 code 39."""
    assert await post(mock, path, data) == (400, recorded("code_39_malformed_request"))


async def test_body_that_is_not_json_is_code_39(mock: TestClient[Any, Any]) -> None:
    """A body that is not JSON is 400 code 39."""
    async with mock.post(VERIFY, data=b"{nik", headers=HEADERS) as resp:
        assert (resp.status, (await resp.json())["kode"]) == (400, "39")


async def test_quota_runs_out_and_reset_restores_it(
    aiohttp_client: AiohttpClient, population: Population, control: Control
) -> None:
    """After the quota, every call is 429 code 42; a control reset (a new day) restores it."""
    mock = await aiohttp_client(create_app(population, api_key=API_KEY, control=control, quota=2))
    nik = population.unknown_nik()
    assert [(await post(mock, VERIFY, {"nik": nik}))[0] for _ in range(3)] == [404, 404, 429]
    assert (await post(mock, VERIFY, {"nik": nik}))[1] == recorded("code_42_quota_exhausted")
    control.reset()
    assert (await post(mock, VERIFY, {"nik": nik}))[0] == 404


async def test_control_lists_and_reset_forgets_registrations(
    mock: TestClient[Any, Any], population: Population, control: Control
) -> None:
    """GET /_control/registrations lists what was registered; a reset forgets it."""
    citizen = first(population, newcomer)
    _, created = await post(mock, REGISTER, body(citizen.nik, "req_LISTED"))
    async with mock.get("/_control/registrations") as resp:
        listed = await resp.json()
    assert listed == {"count": 1, "registrations": [{"reference": "req_LISTED", "nik": citizen.nik,
                                                     "kpj": created["data"]["kpj"]}]}
    control.reset()
    assert registered(mock) == 0
    assert (await post(mock, STATUS, {"referensi": "req_LISTED", "nik": citizen.nik}))[0] == 404


async def test_faults_strike_agency_routes_only(mock: TestClient[Any, Any], control: Control) -> None:
    """With every request faulted the API answers 503 while the control routes keep working."""
    control.faults.configure({"error_rate": 1.0})
    async with mock.post(VERIFY, json={"nik": "x"}, headers=HEADERS) as resp:
        assert resp.status == 503
    async with mock.get("/_control/registrations") as resp:
        assert resp.status == 200


def test_every_code_the_mock_sends_is_in_the_adapters_table() -> None:
    """The mock and the adapter agree on the codes: each one the mock answers is in the adapter's table."""
    assert set(RESULTS) <= set(RESULT_CODES)
    names = {name.split("_")[1] for name in fixtures.names("bpjs_ketenagakerjaan") if name.startswith("code_")}
    for code, (_, text) in RESULTS.items():
        if code in names:
            fixture = next(n for n in fixtures.names("bpjs_ketenagakerjaan") if n.startswith(f"code_{code}_"))
            assert recorded(fixture)["pesan"] == text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"api_key": ""}, "api_key"), ({"api_key": "k", "quota": -1}, "quota"),
     ({"api_key": "k", "control": Control("x", Population.generate(seed=1, size=5))}, "same population")],
)
def test_create_app_refuses_bad_arguments(population: Population, kwargs: dict[str, Any], message: str) -> None:
    """An empty key, a negative quota or a control over another population is refused."""
    with pytest.raises(ValueError, match=message):
        create_app(population, **kwargs)


async def test_runner_serves_it_with_a_fresh_key(population: Population) -> None:
    """start_mocks runs it on 8103 by default, with exactly base_url and a fresh api_key as settings."""
    assert AGENCY_PORTS["bpjs-ketenagakerjaan"] == 8103
    async with (
        await start_mocks(ports={"bpjs-ketenagakerjaan": 0}, population=population) as one,
        await start_mocks(ports={"bpjs-ketenagakerjaan": 0}, population=population) as two,
    ):
        settings = one.agencies["bpjs-ketenagakerjaan"].settings
        assert set(settings) == {"base_url", "api_key"}
        assert len(settings["api_key"]) >= 24
        assert settings["api_key"] != two.agencies["bpjs-ketenagakerjaan"].settings["api_key"]
