"""The OSS mock refuses a body without a field the guide marks required, in the guide's missing-parameter shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mocks import MockAgency, Population, start_mocks
from mocks.oss import REQUIRED_FIELDS, Business, businesses

WRAPPERS = {
    "inqueryNIB": "INQUERYNIB",
    "checkNIB": "CHECKNIB",
    "checkLicenseStatus": "CHECKLICENSESTATUS",
    "receiveLicenseStatus": "IZINSTATUS",
    "receiveLicense": "IZINFINAL",
    "getDataReferensi": "GETDATAREFERENSI",
}


@pytest.fixture
async def oss(population: Population) -> AsyncIterator[MockAgency]:
    """The OSS mock alone, on a free loopback port."""
    async with await start_mocks(ports={"oss": 0}, population=population) as cluster:
        yield cluster.agencies["oss"]


@pytest.fixture
def business(population: Population) -> Business:
    """A business with at least one permit."""
    return next(b for b in businesses(population) if b.permits)


def _complete(method: str, b: Business) -> dict[str, Any]:
    """A body of ``method`` the mock accepts, with every required field and ``""`` where the guide allows it."""
    permit = b.permits[0]
    ids = {"nib": b.nib, "id_proyek": permit.id_proyek, "oss_id": b.oss_id, "id_izin": permit.id_izin,
           "kd_izin": permit.kd_izin}
    return {
        "inqueryNIB": {"nib": b.nib},
        "checkNIB": {"nib": b.nib},
        "checkLicenseStatus": {"id_izin": permit.id_izin},
        "receiveLicenseStatus": {**ids, "id_produk": "", "kd_instansi": "032", "kd_status": "45",
                                 "tgl_status": "2026-01-05 10:00:00", "nip_status": "198703152010011002",
                                 "nama_status": "BUDI", "keterangan": ""},
        "receiveLicense": {**ids, "kd_daerah": permit.kd_daerah, "nomor_izin": "503/0042/SS/2026",
                           "tgl_terbit_izin": "2026-01-06", "tgl_berlaku_izin": "", "nama_ttd": "RINA",
                           "nip_ttd": "197005121995032001", "jabatan_ttd": "KEPALA DINAS", "status_izin": "50"},
        "getDataReferensi": {"kode": "2"},
    }[method]  # fmt: skip


async def _post(oss: MockAgency, method: str, fields: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(
        f"{oss.settings['base_url']}/{method}",
        json={WRAPPERS[method]: fields},
        headers={"user_key": oss.settings["user_key"]},
    ) as response:
        assert response.status == 200
        document: dict[str, Any] = await response.json()
    assert list(document) == [f"respon{method}"]
    return document[f"respon{method}"]  # type: ignore[no-any-return]


CASES = [(method, field) for method, fields in REQUIRED_FIELDS.items() for field in fields]


def test_the_table_is_the_guides() -> None:
    """Every method the mock serves has its required fields, IZINSTATUS.id_produk and IZINFINAL.tgl_berlaku_izin too."""
    assert set(REQUIRED_FIELDS) == set(WRAPPERS)
    assert "id_produk" in REQUIRED_FIELDS["receiveLicenseStatus"]
    assert "tgl_berlaku_izin" in REQUIRED_FIELDS["receiveLicense"]


@pytest.mark.parametrize("method", list(REQUIRED_FIELDS))
async def test_a_complete_body_is_accepted_with_empty_strings(oss: MockAgency, business: Business, method: str) -> None:
    """Every required field present, "" where there is no value (as the guide's examples send): kode 200."""
    assert (await _post(oss, method, _complete(method, business)))["kode"] == 200


@pytest.mark.parametrize("absent", ["left-out", "null"])
@pytest.mark.parametrize(("method", "field"), CASES, ids=[f"{m}.{f}" for m, f in CASES])
async def test_a_missing_required_field_is_kode_400_naming_it(
    oss: MockAgency, business: Business, method: str, field: str, absent: str
) -> None:
    """A required field left out (or null) is answered exactly as the guide shows a missing parameter."""
    body = _complete(method, business)
    if absent == "null":
        body[field] = None
    else:
        del body[field]
    assert await _post(oss, method, body) == {
        "kode": 400,
        "keterangan": "parameter tidak ditemukan",
        "meta": [{"message": f"{field} is required", "field": field}],
    }


async def test_every_missing_field_is_listed(oss: MockAgency) -> None:
    """An empty IZINSTATUS lists every required field, in the guide's order."""
    reply = await _post(oss, "receiveLicenseStatus", {})
    assert [item["field"] for item in reply["meta"]] == list(REQUIRED_FIELDS["receiveLicenseStatus"])


async def test_an_inquiry_by_npwp_needs_no_nib(oss: MockAgency, business: Business) -> None:
    """INQUERYNIB may name the business by its NPWP alone (the guide's third example)."""
    reply = await _post(oss, "inqueryNIB", {"npwp": business.npwp})
    assert reply["kode"] == 200 and reply["dataNIB"]["nib"] == business.nib
