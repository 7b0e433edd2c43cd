"""The OSS RBA mock over real sockets: the registry, every method, user_key, submissions, deliveries and reset."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient

from mocks import Control, MockAgency, Population, start_mocks
from mocks.oss import API_PATHS, KBLI, PERMIT_STATUSES, Business, businesses, create_app

REFERENCE = "req_01HMOCKOSSREFERENCE0000001"


@pytest.fixture
async def oss(population: Population) -> AsyncIterator[MockAgency]:
    """The OSS mock alone, on a free loopback port."""
    async with await start_mocks(ports={"oss": 0}, population=population) as cluster:
        yield cluster.agencies["oss"]


class Oss:
    """Posts to the OSS mock the way an adapter would."""

    def __init__(self, agency: MockAgency, http: aiohttp.ClientSession) -> None:
        self.agency = agency
        self.http = http

    async def raw(
        self, method: str, body: Any, *, user_key: str | None = None, prefix: str = "", reference: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"user_key": self.agency.settings["user_key"] if user_key is None else user_key}
        if reference is not None:
            headers["X-MPP-Reference"] = reference
        url = f"{self.agency.base_url}{prefix}/{method}" if prefix else f"{self.agency.settings['base_url']}/{method}"
        async with self.http.post(url, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def call(self, method: str, wrapper: str, reference: str | None = None, **fields: Any) -> dict[str, Any]:
        """The ``respon<method>`` object, asserting HTTP 200 and the envelope's name."""
        status, document = await self.raw(method, {wrapper: fields}, reference=reference)
        assert status == 200
        assert list(document) == [f"respon{method}"]
        inner: dict[str, Any] = document[f"respon{method}"]
        return inner


@pytest.fixture
async def client(oss: MockAgency) -> AsyncIterator[Oss]:
    """A client of the running mock."""
    async with aiohttp.ClientSession() as http:
        yield Oss(oss, http)


@pytest.fixture
def business(population: Population) -> Business:
    """A business with at least one permit."""
    return next(b for b in businesses(population) if b.permits)


def _update(b: Business, status: str = "45", when: str = "2026-01-05 10:00:00") -> dict[str, str]:
    permit = b.permits[0]
    return {
        "nib": b.nib, "id_produk": "", "id_proyek": permit.id_proyek, "oss_id": b.oss_id, "id_izin": permit.id_izin,
        "kd_izin": permit.kd_izin, "kd_instansi": "032", "kd_status": status, "tgl_status": when,
        "nip_status": "198703152010011002", "nama_status": "BUDI", "keterangan": "",
    }


def _final(b: Business, number: str = "503/0042/SS/2026") -> dict[str, str]:
    permit = b.permits[0]
    return {
        "nib": b.nib, "id_proyek": permit.id_proyek, "oss_id": b.oss_id, "id_izin": permit.id_izin,
        "kd_izin": permit.kd_izin, "kd_daerah": permit.kd_daerah, "nomor_izin": number,
        "tgl_terbit_izin": "2026-01-06", "tgl_berlaku_izin": "2031-01-06", "nama_ttd": "RINA",
        "nip_ttd": "197005121995032001", "jabatan_ttd": "KEPALA DINAS", "status_izin": "50",
    }


def test_registry_is_deterministic_and_well_formed(population: Population) -> None:
    """The same population yields the same businesses, with OSS's identifier formats and KBLI strings."""
    registry = businesses(population)
    assert registry == businesses(population)
    assert len(registry) >= 20
    assert len({b.nib for b in registry}) == len(registry)
    for b in registry:
        assert re.fullmatch(r"[0-9]{13}", b.nib) and len(b.oss_id) == 25
        assert population.get(b.owner.nik) is b.owner and b.owner.status == "active"
        assert all(re.fullmatch(r"R-[0-9]{21}", p.id_proyek) and p.kbli in KBLI for p in b.projects)
        assert all(re.fullmatch(r"I-[0-9]{21}", p.id_izin) and re.fullmatch(r"[0-9]{12}", p.kd_izin) for p in b.permits)
        assert {p.id_proyek for p in b.permits} == {p.id_proyek for p in b.projects if p.risk != "R"}
    assert {b.jenis_perseroan for b in registry} == {"01", "02", "26"}
    assert any(p.kbli.startswith("0") for b in registry for p in b.projects)


@pytest.mark.parametrize("prefix", API_PATHS)
async def test_inquiry_answers_on_production_and_staging(client: Oss, business: Business, prefix: str) -> None:
    """inqueryNIB answers on /v1/kl/rba and /stg/v1/kl/rba with the business's dataNIB."""
    status, document = await client.raw("inqueryNIB", {"INQUERYNIB": {"nib": business.nib}}, prefix=prefix)
    assert status == 200
    reply = document["responinqueryNIB"]
    assert (reply["kode"], reply["dataNIB"]["nib"]) == (200, business.nib)


async def test_inquiry_record_keeps_kbli_strings_and_names_the_owner(client: Oss, business: Business) -> None:
    """dataNIB carries projects with five-character KBLI strings, the owner as penanggung jawab, the checklist."""
    data = (await client.call("inqueryNIB", "INQUERYNIB", nib=business.nib))["dataNIB"]
    assert data["oss_id"] == business.oss_id and data["jenis_perseroan"] == business.jenis_perseroan
    assert [p["kbli"] for p in data["data_proyek"]] == [p.kbli for p in business.projects]
    assert all(isinstance(p["kbli"], str) and len(p["kbli"]) == 5 for p in data["data_proyek"])
    assert {p["skala_resiko"] for p in data["data_proyek"]} <= {"R", "MR", "MT", "T"}
    [person] = data["penanggung_jwb"]
    assert person["no_identitas_penanggung_jwb"] == business.owner.nik
    assert [c["id_izin"] for c in data["data_checklist"]] == [p.id_izin for p in business.permits]
    assert data["status_nib"] == business.status_nib


async def test_inquiry_by_npwp_and_by_nib_with_oss_id(client: Oss, business: Business) -> None:
    """The guide's other inquiry forms work: npwp alone, and nib with a matching oss_id."""
    by_npwp = await client.call("inqueryNIB", "INQUERYNIB", npwp=business.npwp)
    assert by_npwp["dataNIB"]["nib"] == business.nib
    wrong = await client.call("inqueryNIB", "INQUERYNIB", nib=business.nib, oss_id="P02-0000000000000000000000"[:25])
    assert wrong["kode"] == 400


@pytest.mark.parametrize(
    ("method", "body", "kode", "text"),
    [
        ("inqueryNIB", {"INQUERYNIB": {"nib": "8000000000000"}}, 400, "tidak ditemukan"),
        ("inqueryNIB", {"INQUERYNIB": {"nib": "12345"}}, 400, "tidak valid"),
        ("inqueryNIB", {"CHECKNIB": {"nib": "8000000000000"}}, 400, "INQUERYNIB"),
        ("inqueryNIB", ["not", "an", "object"], 400, "INQUERYNIB"),
        ("checkLicenseStatus", {"CHECKLICENSESTATUS": {"id_izin": "I-000000000000000000000"}}, 400, "izin"),
        ("deleteNIB", {"DELETENIB": {}}, 404, "Service"),
    ],
    ids=["unknown-nib", "malformed-nib", "wrong-wrapper", "not-an-object", "unknown-permit", "unknown-method"],
)
async def test_refusals_are_kodes_in_the_envelope(
    client: Oss, method: str, body: Any, kode: int, text: str
) -> None:
    """Bad or unknown data and unknown methods are answered in the respon<method> envelope with their kode."""
    status, document = await client.raw(method, body)
    assert status == 200
    reply = document[f"respon{method}"]
    assert reply["kode"] == kode and text in reply["keterangan"]


@pytest.mark.parametrize("user_key", ["", "wrong-key"], ids=["missing", "wrong"])
async def test_user_key_is_checked_first(client: Oss, business: Business, user_key: str) -> None:
    """A missing or wrong user_key gets kode 401, whatever the method and body."""
    status, document = await client.raw("inqueryNIB", {"INQUERYNIB": {"nib": business.nib}}, user_key=user_key)
    assert (status, document["responinqueryNIB"]["kode"]) == (200, 401)


async def test_check_nib_and_license_status(client: Oss, business: Business) -> None:
    """checkNIB names the business and its status; checkLicenseStatus gives the permit's status and its text."""
    check = (await client.call("checkNIB", "CHECKNIB", nib=business.nib))["dataNIB"]
    assert check == {"nib": business.nib, "nama_perusahaan": business.nama_perseroan, "status": business.status_nib}
    permit = business.permits[0]
    izin = (await client.call("checkLicenseStatus", "CHECKLICENSESTATUS", id_izin=permit.id_izin))["dataIZIN"]
    assert (izin["id_izin"], izin["nib"], izin["kd_status"]) == (permit.id_izin, business.nib, permit.status)
    assert izin["uraian_status"] == PERMIT_STATUSES[permit.status]


async def test_status_update_applies_once_and_counts_each_delivery(
    client: Oss, oss: MockAgency, business: Business
) -> None:
    """receiveLicenseStatus changes the status; the same update again changes nothing but counts a delivery."""
    for _ in range(2):
        reply = await client.call("receiveLicenseStatus", "IZINSTATUS", REFERENCE, **_update(business, "90"))
        assert (reply["kode"], reply["dataNIB"]) == (200, {})
    izin = (await client.call("checkLicenseStatus", "CHECKLICENSESTATUS", id_izin=business.permits[0].id_izin))
    assert izin["dataIZIN"]["kd_status"] == "90"
    assert oss.control.deliveries.count(reference=REFERENCE) == 2
    assert oss.control.deliveries.count("receiveLicenseStatus") == 2
    assert oss.control.deliveries.count("checkLicenseStatus") == 0


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"kd_status": "99"}, "status"),
        ({"tgl_status": "05-01-2026 10:00"}, "tgl_status"),
        ({"tgl_status": "2026-13-40 10:00:00"}, "tgl_status"),
        ({"nib": "8000000000000"}, "tidak sesuai"),
        ({"kd_izin": "000000000000"}, "tidak sesuai"),
        ({"nama_status": ""}, "nama_status"),
        ({"id_izin": "I-000000000000000000000"}, "tidak ditemukan"),
    ],
    ids=["status-not-in-list", "time-format", "time-impossible", "other-nib", "other-kd-izin", "missing-name",
         "unknown-permit"],
)
async def test_bad_status_updates_are_refused_and_change_nothing(
    client: Oss, oss: MockAgency, business: Business, change: dict[str, str], text: str
) -> None:
    """A refused update is kode 400 with a reason, leaves the status as it was, and still counts as delivered."""
    reply = await client.call("receiveLicenseStatus", "IZINSTATUS", REFERENCE, **(_update(business) | change))
    assert reply["kode"] == 400 and text in reply["keterangan"]
    izin = (await client.call("checkLicenseStatus", "CHECKLICENSESTATUS", id_izin=business.permits[0].id_izin))
    assert izin["dataIZIN"]["kd_status"] == business.permits[0].status
    assert oss.control.deliveries.count(reference=REFERENCE) == 1


async def test_final_permit_sets_status_and_number(client: Oss, business: Business) -> None:
    """receiveLicense answers the number, and the permit shows its status and number from then on."""
    reply = await client.call("receiveLicense", "IZINFINAL", REFERENCE, **_final(business))
    assert (reply["kode"], reply["nomor_izin"]) == (200, "503/0042/SS/2026")
    data = (await client.call("inqueryNIB", "INQUERYNIB", nib=business.nib))["dataNIB"]
    checklist = data["data_checklist"][0]
    assert (checklist["status_checklist"], checklist["no_izin"]) == ("50", "503/0042/SS/2026")


async def test_final_permit_with_a_bad_date_is_refused(client: Oss, business: Business) -> None:
    """A final permit whose date is not YYYY-MM-DD is kode 400."""
    reply = await client.call("receiveLicense", "IZINFINAL", **(_final(business) | {"tgl_terbit_izin": "06/01/2026"}))
    assert reply["kode"] == 400


async def test_reset_restores_permits_and_clears_deliveries(
    client: Oss, oss: MockAgency, business: Business
) -> None:
    """POST /_control/reset puts every permit back to its first status and zeroes the delivery log."""
    await client.call("receiveLicenseStatus", "IZINSTATUS", REFERENCE, **_update(business, "90"))
    async with client.http.post(f"{oss.base_url}/_control/reset") as resp:
        assert resp.status == 200
    izin = (await client.call("checkLicenseStatus", "CHECKLICENSESTATUS", id_izin=business.permits[0].id_izin))
    assert izin["dataIZIN"]["kd_status"] == business.permits[0].status
    assert oss.control.deliveries.count() == 0


async def test_businesses_control_route_lists_and_filters(client: Oss, oss: MockAgency) -> None:
    """/_control/businesses lists NIBs, owners, projects and permits, by risk and with permits only."""
    async with client.http.get(f"{oss.base_url}/_control/businesses?limit=3&permits=true") as resp:
        listed = await resp.json()
    assert listed["count"] == 3 and all(b["permits"] for b in listed["businesses"])
    first = listed["businesses"][0]
    assert {"nib", "oss_id", "owner_nik", "projects", "permits"} <= set(first)
    assert {"id_izin", "kd_status", "kd_izin", "id_proyek"} <= set(first["permits"][0])
    async with client.http.get(f"{oss.base_url}/_control/businesses?risk=T&limit=1000") as resp:
        high = (await resp.json())["businesses"]
    assert high and all(any(p["skala_resiko"] == "T" for p in b["projects"]) for b in high)
    async with client.http.get(f"{oss.base_url}/_control/businesses?limit=0") as resp:
        assert resp.status == 422


async def test_faults_strike_oss_routes_but_not_the_business_list(client: Oss, oss: MockAgency) -> None:
    """With every request faulted, OSS methods fail with 503 while /_control/businesses keeps answering."""
    oss.control.faults.configure({"error_rate": 1.0})
    async with client.http.post(f"{oss.settings['base_url']}/checkNIB", json={}) as resp:
        assert resp.status == 503
    async with client.http.get(f"{oss.base_url}/_control/businesses?limit=1") as resp:
        assert resp.status == 200


async def test_reference_data(client: Oss) -> None:
    """getDataReferensi answers the tables the mock models and refuses the others."""
    statuses = await client.call("getDataReferensi", "GETDATAREFERENSI", kode="10")
    assert {row["kode"] for row in statuses["dataReferensi"]} == set(PERMIT_STATUSES)
    assert (await client.call("getDataReferensi", "GETDATAREFERENSI", kode="31"))["kode"] == 400


async def test_mirror_kode_puts_the_kode_in_the_http_status(
    aiohttp_client: AiohttpClient, population: Population
) -> None:
    """With mirror_kode the HTTP status repeats the kode, the envelope unchanged."""
    client = await aiohttp_client(create_app(population, user_key="k", mirror_kode=True))
    resp = await client.post("/v1/kl/rba/checkNIB", json={"CHECKNIB": {"nib": "1"}}, headers={"user_key": "bad"})
    assert resp.status == 401
    assert (await resp.json())["responcheckNIB"]["kode"] == 401


def test_create_app_checks_its_arguments(population: Population) -> None:
    """An empty user_key, or a control watching another population, is refused."""
    with pytest.raises(ValueError, match="user_key"):
        create_app(population, user_key="")
    with pytest.raises(ValueError, match="same population"):
        create_app(population, user_key="k", control=Control("oss", Population.generate(seed=1, size=10)))


async def test_runner_settings_are_the_adapters_and_the_inbound_pair(oss: MockAgency) -> None:
    """The cluster hands out base_url (with /v1/kl/rba), a user_key and the receiveNIB credentials."""
    assert set(oss.settings) == {"base_url", "user_key", "inbound_username", "inbound_password"}
    assert oss.settings["base_url"] == f"{oss.base_url}/v1/kl/rba"
    assert all(oss.settings.values())
