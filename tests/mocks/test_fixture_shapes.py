"""Mocks against recorded fixtures: each reply a fixture records, asked of the running mock, comes back in its shape.

A shape is the keys, recursively, and the JSON types (object, array, string, integer, number, boolean, null);
values may differ. Array elements are pooled into one element shape per array. Every mock runs on a real
loopback socket (``start_mocks``) and is driven into each outcome by its inputs or its ``/_control/`` routes.

Where a mock knowingly answers differently from a fixture, the difference is written out in :data:`DIVERGENCES`
and the test asserts exactly it: a new drift fails, and so does a fixed one until its entry is removed. Fixtures
no mock can be driven into are listed, with the reason, in :data:`NOT_SERVED`; a test checks that every fixture
is either compared or listed there.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from adapters.bpjs_kesehatan.crypto import decrypt_response
from mocks import REFERENCE_DATE, Citizen, MockAgency, Population, start_mocks
from mocks.bpjs_crypto import signature
from mocks.bpjs_ketenagakerjaan import membership
from mocks.dukcapil import record
from mocks.oss import Business, businesses
from tests import fixtures

Shape = dict[str, Any]

NOT_SERVED: dict[tuple[str, str], str] = {
    ("dukcapil", "code_06_outside_hours"): "the mock has no access hours",
    ("dukcapil", "code_08_nik_unprocessable"): "the mock processes every well-formed NIK",
    ("dukcapil", "code_10_invalid_ip"): "the mock answers a wrong IP_USER with 04 only",
    ("dukcapil", "code_17_user_inactive"): "the mock's one user is always active",
    ("oss", "inquiry_nib_typed_as_numbers"): "the guide's numeric typing, kept for the adapter; the mock sends strings",
    ("oss", "kode_403"): "the mock never refuses an inquiry as illegal",
    ("oss", "kode_405"): "the mock never refuses access to a service",
    ("oss", "kode_500"): "the mock's failures are transport faults, not kode 500 envelopes",
    ("oss", "kode_504"): "the mock's timeouts are transport faults, not kode 504 envelopes",
    ("bpjs_kesehatan", "lzstring_vectors"): "compressor vectors, not a reply (test_bpjs_kesehatan checks them)",
    ("bpjs_ketenagakerjaan", "code_41_key_not_permitted"): "the mock's one key may call every route",
    ("bpjs_ketenagakerjaan", "code_50_system_error"): "the mock's failures are transport faults",
    ("bpjs_ketenagakerjaan", "code_51_population_check_down"): "the mock's population check never goes down",
}
"""Fixtures no mock can be driven into, and why."""

_NO_PAGING = [
    "$.firstPage: only in the mock",
    "$.lastPage: only in the mock",
    "$.number: only in the mock",
    "$.numberOfElements: only in the mock",
    "$.quotaLimiter: only in the mock",
    "$.size: only in the mock",
    "$.sort: only in the mock",
    "$.totalElements: only in the mock",
]
_RESPON = ["$.content[].RESPON: only in the fixture", "$.content[].RESPONSE: only in the mock"]
_RESPONSE_DESC = ["$.content[].RESPONSE: only in the mock", "$.content[].RESPONSE_DESC: only in the fixture"]
_OSS_INQUIRY_EXTRA = [
    "dalam_bentuk_lain", "dalam_bentuk_uang", "data_dni", "email_perusahaan", "flag_ekspor", "flag_impor",
    "flag_perusahaan", "gabung_negara", "jangka_waktu", "jenis_api", "jenis_id_user_proses",
    "jenis_perubahan_terakhir", "jenis_kawasan", "kd_kawasan", "kelurahan_perseroan", "kode_pos_perseroan",
    "legalitas", "nama_user_proses", "negara_pma_dominan", "nilai_pma_dominan", "nilai_pmdn", "no_id_user_proses",
    "nomor_telpon_perseroan", "pemegang_saham", "persen_pma", "persen_pmdn", "rt_rw_perseroan", "status_perseroan",
    "tgl_lahir_user_proses", "total_modal_dasar", "total_modal_ditempatkan", "total_pma",
]
_OSS_INQUIRY_ITEM_EXTRA = {
    "data_checklist": ["data_persyaratan", "id_produk", "jenis_izin"],
    "data_proyek": ["jumlah_tka_l", "jumlah_tka_p", "jumlah_tki_l", "jumlah_tki_p", "nama_kegiatan", "nomor_proyek"],
    "penanggung_jwb": ["email_penanggung_jwb", "negara_asal_penanggung_jwb", "no_hp_penanggung_jwb",
                       "npwp_penanggung_jwb"],
}
_OSS_INQUIRY_MOCK_ONLY = ["$.dataNIB.penanggung_jwb[].daerah_id_penanggung_jwb: only in the mock",
                          "$.dataNIB.penanggung_jwb[].rt_rw_penanggung_jwb: only in the mock"]

DIVERGENCES: dict[tuple[str, str], list[str]] = {
    # Dukcapil: which text key a code uses and whether a failure carries the paging fields are modelled on both
    # sides (adapters/dukcapil/manifest.json); the mock always answers RESPONSE and always pages.
    ("dukcapil", "code_03_login_failed"): sorted(_RESPON + _NO_PAGING),
    ("dukcapil", "code_04_incorrect_ip"): _NO_PAGING,
    ("dukcapil", "code_05_quota_reached"): sorted(_RESPONSE_DESC + _NO_PAGING),
    ("dukcapil", "code_07_incomplete_parameters"): _NO_PAGING,
    ("dukcapil", "code_09_empty_credentials"): sorted(_RESPON + _NO_PAGING),
    ("dukcapil", "code_14_inactive"): _RESPON,
    ("dukcapil", "code_15_invalid_format"): _RESPONSE_DESC,
    ("dukcapil", "code_16_institution_inactive"): _NO_PAGING,
    # OSS: the mock's dataNIB carries the keys the adapter reads, not every key of the guide's example, and its
    # kode 400 refusals carry no empty dataNIB.
    ("oss", "inquiry_nib"): sorted(
        [f"$.dataNIB.{key}: only in the fixture" for key in _OSS_INQUIRY_EXTRA]
        + [f"$.dataNIB.{array}[].{key}: only in the fixture" for array, keys in _OSS_INQUIRY_ITEM_EXTRA.items()
           for key in keys]
        + _OSS_INQUIRY_MOCK_ONLY
    ),
    ("oss", "kode_400_nib_not_found"): ["$.dataNIB: only in the fixture"],
    ("oss", "kode_400_permit_not_found"): ["$.dataNIB: only in the fixture"],
    # BPJS Kesehatan: the mock never records coordination of benefits or social-service information, always has
    # a phone number and, for adults, a printed card.
    ("bpjs_kesehatan", "peserta_cob"): [
        "$.peserta.cob.nmAsuransi: fixture string, mock null",
        "$.peserta.cob.noAsuransi: fixture string, mock null",
        "$.peserta.cob.tglTAT: fixture string, mock null",
        "$.peserta.cob.tglTMT: fixture string, mock null",
    ],
    ("bpjs_kesehatan", "peserta_deceased"): [
        "$.peserta.informasi.dinsos: fixture string, mock null",
        "$.peserta.informasi.noSKTM: fixture string, mock null",
        "$.peserta.informasi.prolanisPRB: fixture string, mock null",
        "$.peserta.mr.noTelepon: fixture null, mock string",
        "$.peserta.tglCetakKartu: fixture null, mock string",
    ],
    ("bpjs_kesehatan", "peserta_lapsed"): ["$.peserta.mr.noTelepon: fixture null, mock string"],
}
"""Known, deliberate differences between a mock's reply and a fixture, exactly as :func:`differences` words them."""


# --- shapes -------------------------------------------------------------------------------------------------------


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape(value: Any) -> Shape:
    """The JSON types of ``value`` and, for objects and arrays, the shapes of its members and pooled elements."""
    found: Shape = {"types": {_type(value)}}
    if isinstance(value, dict):
        found["keys"] = {key: shape(item) for key, item in value.items()}
    elif isinstance(value, list):
        element: Shape | None = None
        for item in value:
            element = shape(item) if element is None else _merge(element, shape(item))
        found["items"] = element
    return found


def _merge(a: Shape, b: Shape) -> Shape:
    merged: Shape = {"types": a["types"] | b["types"]}
    if "keys" in a or "keys" in b:
        left, right = a.get("keys", {}), b.get("keys", {})
        merged["keys"] = {
            key: _merge(left[key], right[key]) if key in left and key in right else left.get(key) or right[key]
            for key in left | right
        }
    if "items" in a or "items" in b:
        items = [s for s in (a.get("items"), b.get("items")) if s is not None]
        merged["items"] = _merge(items[0], items[1]) if len(items) == 2 else (items[0] if items else None)
    return merged


def differences(fixture: Any, reply: Any, path: str = "$") -> list[str]:
    """Where ``reply``'s shape departs from ``fixture``'s, one sorted line per path."""
    return sorted(_compare(shape(fixture), shape(reply), path))


def _compare(fixture: Shape, reply: Shape, path: str) -> list[str]:
    if fixture["types"] != reply["types"]:
        return [f"{path}: fixture {'|'.join(sorted(fixture['types']))}, mock {'|'.join(sorted(reply['types']))}"]
    found: list[str] = []
    left, right = fixture.get("keys", {}), reply.get("keys", {})
    found += [f"{path}.{key}: only in the fixture" for key in left.keys() - right.keys()]
    found += [f"{path}.{key}: only in the mock" for key in right.keys() - left.keys()]
    for key in left.keys() & right.keys():
        found += _compare(left[key], right[key], f"{path}.{key}")
    if "items" in fixture:
        mine, theirs = fixture["items"], reply["items"]
        if mine is not None and theirs is not None:
            found += _compare(mine, theirs, f"{path}[]")
        elif mine is not theirs:
            found.append(f"{path}[]: elements only in the {'fixture' if theirs is None else 'mock'}")
    return found


def assert_shape(reply: Any, agency: str, name: str, *, unwrap: bool = False) -> None:
    """``reply`` has the shape of the fixture ``agency``/``name``, but for its listed divergences."""
    fixture = fixtures.load(agency, name)
    if unwrap:  # OSS: compare the respon<method> objects, whichever method names the wrapper
        ((_, fixture),) = fixture.items()
    assert differences(fixture, reply) == DIVERGENCES.get((agency, name), [])


def test_every_fixture_is_accounted_for() -> None:
    """Every recorded fixture is compared with its mock here or listed as one no mock serves, with a reason."""
    compared = {(agency, name) for agency, name in COMPARED}
    for agency in fixtures.AGENCIES:
        for name in fixtures.names(agency):
            assert ((agency, name) in compared) != ((agency, name) in NOT_SERVED), (agency, name)
    assert set(DIVERGENCES) <= compared
    assert len(COMPARED) == len(compared)


def test_differences_name_missing_keys_and_changed_types() -> None:
    """The comparison reports keys on one side only, type changes, and elements only one side has."""
    fixture = {"a": 1, "b": {"c": "x"}, "d": [{"e": None}], "f": []}
    reply = {"a": "1", "b": {"c": "y", "g": True}, "d": [], "f": [1]}
    assert differences(fixture, reply) == [
        "$.a: fixture integer, mock string",
        "$.b.g: only in the mock",
        "$.d[]: elements only in the fixture",
        "$.f[]: elements only in the mock",
    ]
    assert differences(fixture, fixture) == []
    assert differences({"l": [{"k": 1}, {"k": 2, "m": "x"}]}, {"l": [{"k": 3, "m": "y"}]}) == []


# --- Dukcapil -----------------------------------------------------------------------------------------------------


class Dukcapil:
    """Posts to the Dukcapil mock, credentials and institution overridable."""

    def __init__(self, agency: MockAgency, http: aiohttp.ClientSession) -> None:
        self.agency = agency
        self.http = http

    async def call(self, method: str, *, institution: str | None = None, **fields: Any) -> Any:
        settings = self.agency.settings
        body = {"USER_ID": settings["user_id"], "PASSWORD": settings["password"], "IP_USER": settings["ip_user"]}
        url = f"{self.agency.base_url}/dukcapil/get_json/{institution or settings['institution']}/{method}"
        async with self.http.post(url, json={**body, **fields}) as resp:
            assert resp.status == 200
            return await resp.json()


@pytest.fixture
def duk(agency: MockAgency, http: aiohttp.ClientSession) -> Dukcapil:
    return Dukcapil(agency, http)


def _one(population: Population, status: str, *, duplicate: bool = False) -> Citizen:
    return population.sample(status, duplicate=duplicate, limit=1)[0]  # type: ignore[arg-type]


VERIFY = "CALL_VERIFY_BY_ELEMEN"


async def test_dukcapil_verification_match_has_the_fixture_shape(duk: Dukcapil, population: Population) -> None:
    """A verification whose submitted fields all match answers in the shape of verify_match."""
    held = record(_one(population, "active"))
    fields = {key: held[key] for key in ("NAMA_LGKP", "TMPT_LHR", "TGL_LHR", "JENIS_KLMIN", "NO_KK", "NAMA_LGKP_IBU")}
    reply = await duk.call(VERIFY, NIK=held["NIK"], TRESHOLD="80", **fields)
    assert_shape(reply, "dukcapil", "verify_match")


async def test_dukcapil_verification_mismatch_has_the_fixture_shape(duk: Dukcapil, population: Population) -> None:
    """A verification with wrong address and RW answers in the shape of verify_mismatch."""
    held = record(_one(population, "active"))
    fields = {key: held[key] for key in ("NAMA_LGKP", "TGL_LHR", "NO_RT", "KEL_NAME")}
    reply = await duk.call(VERIFY, NIK=held["NIK"], TRESHOLD="80", ALAMAT="JL. TIDAK ADA", NO_RW="999", **fields)
    assert reply["content"][0]["ALAMAT"] == "Tidak Sesuai"
    assert_shape(reply, "dukcapil", "verify_mismatch")


async def test_dukcapil_verification_of_a_duplicate_has_the_fixture_shape(
    duk: Dukcapil, population: Population
) -> None:
    """Verifying a NIK with a duplicate record answers, flag included, in the shape of verify_duplicate."""
    held = record(_one(population, "active", duplicate=True))
    reply = await duk.call(VERIFY, NIK=held["NIK"], TRESHOLD="80", NAMA_LGKP=held["NAMA_LGKP"], TGL_LHR=held["TGL_LHR"])
    assert reply["content"][0]["RESPONSE_CODE"] == "12"
    assert_shape(reply, "dukcapil", "verify_duplicate")


@pytest.mark.parametrize(("duplicate", "name"), [(False, "nik_record"), (True, "nik_record_duplicate")])
async def test_dukcapil_record_has_the_fixture_shape(
    duk: Dukcapil, population: Population, duplicate: bool, name: str
) -> None:
    """CALL_NIK answers a citizen's record (with the duplicate flag for a duplicate) in the fixture's shape."""
    reply = await duk.call("CALL_NIK", NIK=_one(population, "active", duplicate=duplicate).nik)
    assert_shape(reply, "dukcapil", name)


async def test_dukcapil_record_not_found_has_the_fixture_shape(duk: Dukcapil, population: Population) -> None:
    """CALL_NIK for a NIK nobody holds answers the bare RESPON form of not_found_respon."""
    reply = await duk.call("CALL_NIK", NIK=population.unknown_nik())
    assert_shape(reply, "dukcapil", "not_found_respon")


async def test_dukcapil_quota_reached_has_the_fixture_shape(
    duk: Dukcapil, agency: MockAgency, http: aiohttp.ClientSession, population: Population
) -> None:
    """With the quota emptied through /_control/quota, a call answers code 05 in its fixture's shape."""
    async with http.put(f"{agency.base_url}/_control/quota", json={"remaining": 0}) as resp:
        assert resp.status == 200
    reply = await duk.call(VERIFY, NIK=_one(population, "active").nik, NAMA_LGKP="X")
    assert reply["content"][0]["RESPONSE_CODE"] == "05"
    assert_shape(reply, "dukcapil", "code_05_quota_reached")


DUKCAPIL_FAILURES: list[tuple[str, Callable[[MockAgency, Population], dict[str, Any]]]] = [
    ("code_03_login_failed", lambda a, p: {"PASSWORD": "wrong", "NIK": _one(p, "active").nik}),
    ("code_04_incorrect_ip", lambda a, p: {"IP_USER": "192.0.2.1", "NIK": _one(p, "active").nik}),
    ("code_07_incomplete_parameters", lambda a, p: {"NIK": _one(p, "active").nik}),
    ("code_09_empty_credentials", lambda a, p: {"USER_ID": "", "NIK": _one(p, "active").nik}),
    ("code_11_deceased", lambda a, p: {"NIK": _one(p, "deceased").nik}),
    ("code_13_not_found", lambda a, p: {"NIK": p.unknown_nik()}),
    ("code_14_inactive", lambda a, p: {"NIK": _one(p, "inactive").nik}),
    ("code_15_invalid_format", lambda a, p: {"NIK": "123"}),
    ("code_16_institution_inactive", lambda a, p: {"institution": "lembaga_lain", "NIK": _one(p, "active").nik}),
]


@pytest.mark.parametrize(("name", "build"), DUKCAPIL_FAILURES, ids=[name for name, _ in DUKCAPIL_FAILURES])
async def test_dukcapil_failure_codes_have_the_fixture_shape(
    duk: Dukcapil,
    agency: MockAgency,
    population: Population,
    name: str,
    build: Callable[[MockAgency, Population], dict[str, Any]],
) -> None:
    """Each failure code the mock can be driven into answers with that code in its fixture's shape."""
    fields = {"NAMA_LGKP": "SIAPA SAJA", **build(agency, population)}
    if name == "code_07_incomplete_parameters":
        del fields["NAMA_LGKP"]
    reply = await duk.call(VERIFY, **fields)
    assert reply["content"][0]["RESPONSE_CODE"] == name.split("_")[1]
    assert_shape(reply, "dukcapil", name)


# --- OSS RBA ------------------------------------------------------------------------------------------------------


class Oss:
    """Posts ``{WRAPPER: fields}`` to the OSS mock and returns the wrapper name and the respon<method> object."""

    def __init__(self, agency: MockAgency, http: aiohttp.ClientSession) -> None:
        self.agency = agency
        self.http = http

    async def call(self, method: str, wrapper: str, user_key: str | None = None, **fields: Any) -> Any:
        key = self.agency.settings["user_key"] if user_key is None else user_key
        url = f"{self.agency.settings['base_url']}/{method}"
        async with self.http.post(url, json={wrapper: fields}, headers={"user_key": key}) as resp:
            assert resp.status == 200
            document = await resp.json()
        assert list(document) == [f"respon{method}"]
        return document[f"respon{method}"]


@pytest.fixture
async def oss(population: Population, http: aiohttp.ClientSession) -> AsyncIterator[Oss]:
    async with await start_mocks(ports={"oss": 0}, population=population) as cluster:
        yield Oss(cluster.agencies["oss"], http)


@pytest.fixture
def business(population: Population) -> Business:
    """A business with at least one permit."""
    return next(b for b in businesses(population) if b.permits)


def _status_update(b: Business, **changes: str) -> dict[str, str]:
    permit = b.permits[0]
    return {"nib": b.nib, "id_produk": "", "id_proyek": permit.id_proyek, "oss_id": b.oss_id, "id_izin": permit.id_izin,
            "kd_izin": permit.kd_izin, "kd_instansi": "032", "kd_status": "45", "tgl_status": "2026-01-05 10:00:00",
            "nip_status": "198703152010011002", "nama_status": "BUDI", "keterangan": "", **changes}


def _final_permit(b: Business, **changes: str) -> dict[str, str]:
    permit = b.permits[0]
    return {"nib": b.nib, "id_proyek": permit.id_proyek, "oss_id": b.oss_id, "id_izin": permit.id_izin,
            "kd_izin": permit.kd_izin, "kd_daerah": permit.kd_daerah, "nomor_izin": "503/0042/SS/2026",
            "tgl_terbit_izin": "2026-01-06", "tgl_berlaku_izin": "2031-01-06", "nama_ttd": "RINA",
            "nip_ttd": "197005121995032001", "jabatan_ttd": "KEPALA DINAS", "status_izin": "50",
            "jenis_perizinan": "02", **changes}


async def test_oss_nib_inquiry_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """inqueryNIB answers a business's full NIB data in the shape of inquiry_nib."""
    reply = await oss.call("inqueryNIB", "INQUERYNIB", nib=business.nib)
    assert reply["kode"] == 200
    assert_shape(reply, "oss", "inquiry_nib", unwrap=True)


async def test_oss_nib_check_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """checkNIB answers nib, company name and status in the shape of check_nib."""
    assert_shape(await oss.call("checkNIB", "CHECKNIB", nib=business.nib), "oss", "check_nib", unwrap=True)


@pytest.mark.parametrize("name", ["check_license_status", "check_license_status_guide_key"])
async def test_oss_license_status_has_the_fixture_shape(oss: Oss, business: Business, name: str) -> None:
    """checkLicenseStatus answers a permit's status in the shape both status fixtures give it."""
    reply = await oss.call("checkLicenseStatus", "CHECKLICENSESTATUS", id_izin=business.permits[0].id_izin)
    assert_shape(reply, "oss", name, unwrap=True)


async def test_oss_status_update_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """An accepted receiveLicenseStatus answers in the shape of receive_license_status."""
    reply = await oss.call("receiveLicenseStatus", "IZINSTATUS", **_status_update(business))
    assert reply["kode"] == 200
    assert_shape(reply, "oss", "receive_license_status", unwrap=True)


async def test_oss_final_permit_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """An accepted receiveLicense answers the permit number in the shape of receive_license."""
    reply = await oss.call("receiveLicense", "IZINFINAL", **_final_permit(business))
    assert reply["kode"] == 200
    assert_shape(reply, "oss", "receive_license", unwrap=True)


async def test_oss_invalid_permit_status_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """A final permit with an unknown status answers kode 400 in the shape of kode_400_invalid_status."""
    reply = await oss.call("receiveLicense", "IZINFINAL", **_final_permit(business, status_izin="99"))
    assert reply["kode"] == 400
    assert_shape(reply, "oss", "kode_400_invalid_status", unwrap=True)


async def test_oss_unknown_nib_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """An inquiry about an NIB nobody holds answers kode 400 in the shape of kode_400_nib_not_found."""
    unknown = "1" + business.nib[1:] if business.nib[0] != "1" else "2" + business.nib[1:]
    reply = await oss.call("inqueryNIB", "INQUERYNIB", nib=unknown)
    assert reply["kode"] == 400
    assert_shape(reply, "oss", "kode_400_nib_not_found", unwrap=True)


async def test_oss_unknown_permit_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """A status update about a permit OSS does not know answers kode 400 in the shape of kode_400_permit_not_found."""
    reply = await oss.call("receiveLicenseStatus", "IZINSTATUS", **_status_update(business, id_izin="I-0"))
    assert reply["kode"] == 400
    assert_shape(reply, "oss", "kode_400_permit_not_found", unwrap=True)


async def test_oss_wrong_user_key_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """A wrong user_key answers kode 401 in the shape of kode_401."""
    reply = await oss.call("inqueryNIB", "INQUERYNIB", user_key="wrong", nib=business.nib)
    assert reply["kode"] == 401
    assert_shape(reply, "oss", "kode_401", unwrap=True)


async def test_oss_unknown_method_has_the_fixture_shape(oss: Oss, business: Business) -> None:
    """A method OSS does not serve answers kode 404 in the shape of kode_404."""
    reply = await oss.call("inqueryNIBX", "INQUERYNIB", nib=business.nib)
    assert reply["kode"] == 404
    assert_shape(reply, "oss", "kode_404", unwrap=True)


# --- BPJS Kesehatan -----------------------------------------------------------------------------------------------


class VClaim:
    """Signs requests to the VClaim mock with its consumer's credentials and opens the encrypted replies."""

    def __init__(self, agency: MockAgency, http: aiohttp.ClientSession) -> None:
        self.settings = agency.settings
        self.http = http

    def headers(self, *, timestamp: str | None = None, secret: str | None = None, **changes: str) -> dict[str, str]:
        stamp = timestamp or str(int(time.time()))
        cons_id = self.settings["cons_id"]
        return {
            "X-cons-id": cons_id,
            "X-timestamp": stamp,
            "X-signature": signature(cons_id, secret or self.settings["consumer_secret"], stamp),
            "user_key": self.settings["user_key"],
            **changes,
        }

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        async with self.http.get(self.settings["base_url"] + path, headers=headers or self.headers()) as resp:
            assert resp.status == 200
            return await resp.json()

    async def open(self, path: str) -> tuple[Any, Any]:
        """The envelope of a successful lookup and its decrypted ``response``."""
        headers = self.headers()
        envelope = await self.get(path, headers)
        assert envelope["metaData"]["code"] == "200"
        plain = decrypt_response(
            envelope["response"],
            cons_id=self.settings["cons_id"],
            consumer_secret=self.settings["consumer_secret"],
            timestamp=headers["X-timestamp"],
        )
        return envelope, orjson.loads(plain)


@pytest.fixture
async def vclaim(population: Population, http: aiohttp.ClientSession) -> AsyncIterator[VClaim]:
    async with await start_mocks(ports={"bpjs-kesehatan": 0}, population=population) as cluster:
        yield VClaim(cluster.agencies["bpjs-kesehatan"], http)


def _participant(population: Population, status: str, *, medical_record: bool) -> Citizen:
    """A citizen of ``status`` born before JKN, with or without a medical record number (an even card tail)."""
    return next(
        c for c in population
        if c.status == status and c.birth_date.year < 2000 and (int(c.no_kartu[-4:]) % 2 == 0) == medical_record
    )


PARTICIPANTS = [("active", True, "peserta_active"), ("deceased", False, "peserta_deceased"),
                ("active", True, "peserta_cob"), ("inactive", False, "peserta_lapsed")]


@pytest.mark.parametrize(("status", "medical_record", "name"), PARTICIPANTS, ids=[p[2] for p in PARTICIPANTS])
async def test_bpjs_kesehatan_participant_has_the_fixture_shape(
    vclaim: VClaim, population: Population, status: str, medical_record: bool, name: str
) -> None:
    """A participant lookup answers the encrypted envelope and, decrypted, the participant in the fixtures' shape."""
    citizen = _participant(population, status, medical_record=medical_record)
    envelope, document = await vclaim.open(f"/Peserta/nik/{citizen.nik}/tglSEP/{REFERENCE_DATE.isoformat()}")
    assert_shape(envelope, "bpjs_kesehatan", f"envelope_{name}")
    assert_shape(document, "bpjs_kesehatan", name)


async def test_bpjs_kesehatan_unknown_card_has_the_fixture_shape(vclaim: VClaim, population: Population) -> None:
    """A card number nobody holds answers code 201 in the shape of envelope_201_not_found."""
    cards = {c.no_kartu for c in population}
    unknown = next(card for n in range(10**6) if (card := f"{n:013d}") not in cards)
    reply = await vclaim.get(f"/Peserta/nokartu/{unknown}/tglSEP/{REFERENCE_DATE.isoformat()}")
    assert reply["metaData"]["code"] == "201"
    assert_shape(reply, "bpjs_kesehatan", "envelope_201_not_found")


REFUSALS: list[tuple[str, Callable[[VClaim], dict[str, str]]]] = [
    ("envelope_401_signature", lambda v: v.headers(secret="not-the-secret")),
    ("envelope_403_user_key", lambda v: v.headers(user_key="not-the-key")),
    ("envelope_408_timestamp", lambda v: v.headers(timestamp=str(int(time.time()) - 3600))),
]


@pytest.mark.parametrize(("name", "headers"), REFUSALS, ids=[name for name, _ in REFUSALS])
async def test_bpjs_kesehatan_refusals_have_the_fixture_shape(
    vclaim: VClaim, population: Population, name: str, headers: Callable[[VClaim], dict[str, str]]
) -> None:
    """A bad signature, user key or stale timestamp is refused with its code in its fixture's shape."""
    path = f"/Peserta/nik/{_one(population, 'active').nik}/tglSEP/{REFERENCE_DATE.isoformat()}"
    reply = await vclaim.get(path, headers(vclaim))
    assert reply["metaData"]["code"] == name.split("_")[1]
    assert_shape(reply, "bpjs_kesehatan", name)


# --- BPJS Ketenagakerjaan -----------------------------------------------------------------------------------------

CEK, BPU, BPU_STATUS = "/api/v1/peserta/cek", "/api/v1/peserta/bpu", "/api/v1/peserta/bpu/status"


class BpjsTk:
    """Posts to the BPJS Ketenagakerjaan mock with its API key."""

    def __init__(self, agency: MockAgency, http: aiohttp.ClientSession) -> None:
        self.agency = agency
        self.http = http

    async def post(self, path: str, data: Any, api_key: str | None = None) -> tuple[int, Any]:
        headers = {"X-Api-Key": self.agency.settings["api_key"] if api_key is None else api_key}
        async with self.http.post(self.agency.base_url + path, json=data, headers=headers) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def bpjs_tk(population: Population, http: aiohttp.ClientSession) -> AsyncIterator[BpjsTk]:
    async with await start_mocks(ports={"bpjs-ketenagakerjaan": 0}, population=population) as cluster:
        yield BpjsTk(cluster.agencies["bpjs-ketenagakerjaan"], http)


def _registration(nik: str, reference: str = "req_SHAPE", **changes: Any) -> dict[str, Any]:
    return {"referensi": reference, "nik": nik, "pekerjaan": "PEDAGANG", "penghasilan": "P2",
            "program": ["JHT", "JKK", "JKM"], "no_hp": "6281234567890",
            "alamat": {"jalan": "JL. MAWAR NO. 3", "rt": "003", "rw": "001", "kelurahan": "BRAGA",
                       "kecamatan": "SUMUR BANDUNG", "kabupaten": "KOTA BANDUNG", "provinsi": "JAWA BARAT",
                       "kode_pos": None},
            **changes}


def _worker(population: Population, rule: Callable[[Citizen, dict[str, Any] | None], bool]) -> Citizen:
    found = next((c for c in population if rule(c, membership(c))), None)
    assert found is not None, "the seeded population has nobody of this kind"
    return found


def _eligible(c: Citizen) -> bool:
    return c.status == "active" and 18 <= c.age(REFERENCE_DATE) < 65


MEMBERS: list[tuple[str, Callable[[Citizen, dict[str, Any] | None], bool]]] = [
    ("verify_member_pu", lambda c, m: m is not None and m["kategori"] == "PU" and m["status"] == "AKTIF"),
    # The seeded population has no lapsed BPU member; a lapsed wage earner's reply has the same shape.
    ("verify_member_bpu_lapsed", lambda c, m: m is not None and m["status"] == "NONAKTIF"),
    ("verify_not_member", lambda c, m: m is None),
]


@pytest.mark.parametrize(("name", "rule"), MEMBERS, ids=[name for name, _ in MEMBERS])
async def test_bpjs_ketenagakerjaan_membership_has_the_fixture_shape(
    bpjs_tk: BpjsTk, population: Population, name: str, rule: Callable[[Citizen, dict[str, Any] | None], bool]
) -> None:
    """An active wage earner, a lapsed member and a non-member are answered in their fixtures' shapes."""
    _, reply = await bpjs_tk.post(CEK, {"nik": _worker(population, rule).nik})
    assert reply["kode"] == fixtures.load("bpjs_ketenagakerjaan", name)["kode"]
    assert_shape(reply, "bpjs_ketenagakerjaan", name)


async def test_bpjs_ketenagakerjaan_registration_and_status_have_the_fixture_shape(
    bpjs_tk: BpjsTk, population: Population
) -> None:
    """A new BPU registration, and the status enquiry about it, answer in the shapes of their fixtures."""
    citizen = _worker(population, lambda c, m: _eligible(c) and c.kpj is None)
    status, created = await bpjs_tk.post(BPU, _registration(citizen.nik))
    assert (status, created["kode"]) == (201, "00")
    assert_shape(created, "bpjs_ketenagakerjaan", "register_created")
    _, enquired = await bpjs_tk.post(BPU_STATUS, {"referensi": "req_SHAPE", "nik": citizen.nik})
    assert_shape(enquired, "bpjs_ketenagakerjaan", "status_active")


REGISTRATION_REFUSALS: list[tuple[str, Callable[[Population], dict[str, Any]]]] = [
    ("code_11_nik_unknown", lambda p: _registration(p.unknown_nik())),
    ("code_13_deceased", lambda p: _registration(_worker(p, lambda c, m: c.status == "deceased").nik)),
    ("code_14_nik_inactive", lambda p: _registration(_worker(p, lambda c, m: c.status == "inactive").nik)),
    ("code_20_already_registered", lambda p: _registration(
        _worker(p, lambda c, m: _eligible(c) and m is not None and m["status"] == "AKTIF").nik)),
    ("code_30_invalid_data", lambda p: _registration(
        _worker(p, lambda c, m: _eligible(c) and c.kpj is None).nik, no_hp="0812", alamat={"jalan": "X"})),
    ("code_31_age_not_eligible", lambda p: _registration(
        _worker(p, lambda c, m: c.status == "active" and c.age(REFERENCE_DATE) < 18).nik)),
]


@pytest.mark.parametrize(("name", "build"), REGISTRATION_REFUSALS, ids=[name for name, _ in REGISTRATION_REFUSALS])
async def test_bpjs_ketenagakerjaan_registration_refusals_have_the_fixture_shape(
    bpjs_tk: BpjsTk, population: Population, name: str, build: Callable[[Population], dict[str, Any]]
) -> None:
    """Each refusal of a registration the mock can be driven into answers its code in its fixture's shape."""
    _, reply = await bpjs_tk.post(BPU, build(population))
    assert reply["kode"] == name.split("_")[1]
    assert_shape(reply, "bpjs_ketenagakerjaan", name)


async def test_bpjs_ketenagakerjaan_reference_conflict_has_the_fixture_shape(
    bpjs_tk: BpjsTk, population: Population
) -> None:
    """Reusing a reference for another registration body answers code 21 in its fixture's shape."""
    nik = _worker(population, lambda c, m: _eligible(c) and c.kpj is None).nik
    await bpjs_tk.post(BPU, _registration(nik, "req_TWICE"))
    _, reply = await bpjs_tk.post(BPU, _registration(nik, "req_TWICE", penghasilan="P3"))
    assert reply["kode"] == "21"
    assert_shape(reply, "bpjs_ketenagakerjaan", "code_21_reference_conflict")


async def test_bpjs_ketenagakerjaan_unknown_registration_has_the_fixture_shape(
    bpjs_tk: BpjsTk, population: Population
) -> None:
    """A status enquiry under a reference nobody used answers code 12 in its fixture's shape."""
    _, reply = await bpjs_tk.post(BPU_STATUS, {"referensi": "req_NOBODY", "nik": population.unknown_nik()})
    assert reply["kode"] == "12"
    assert_shape(reply, "bpjs_ketenagakerjaan", "code_12_registration_not_found")


async def test_bpjs_ketenagakerjaan_request_refusals_have_the_fixture_shape(
    bpjs_tk: BpjsTk, population: Population, http: aiohttp.ClientSession
) -> None:
    """A malformed body (39), a wrong API key (40) and an emptied quota (42) answer in their fixtures' shapes."""
    _, malformed = await bpjs_tk.post(CEK, {})
    assert_shape(malformed, "bpjs_ketenagakerjaan", "code_39_malformed_request")
    _, bad_key = await bpjs_tk.post(CEK, {"nik": population.unknown_nik()}, api_key="wrong")
    assert_shape(bad_key, "bpjs_ketenagakerjaan", "code_40_bad_api_key")
    async with http.put(f"{bpjs_tk.agency.base_url}/_control/quota", json={"remaining": 0}) as resp:
        assert resp.status == 200
    _, exhausted = await bpjs_tk.post(CEK, {"nik": population.unknown_nik()})
    assert_shape(exhausted, "bpjs_ketenagakerjaan", "code_42_quota_exhausted")
    assert [malformed["kode"], bad_key["kode"], exhausted["kode"]] == ["39", "40", "42"]


COMPARED: list[tuple[str, str]] = [
    *[("dukcapil", name) for name in ("verify_match", "verify_mismatch", "verify_duplicate", "nik_record",
                                      "nik_record_duplicate", "not_found_respon", "code_05_quota_reached")],
    *[("dukcapil", name) for name, _ in DUKCAPIL_FAILURES],
    *[("oss", name) for name in ("inquiry_nib", "check_nib", "check_license_status", "check_license_status_guide_key",
                                 "receive_license_status", "receive_license", "kode_400_invalid_status",
                                 "kode_400_nib_not_found", "kode_400_permit_not_found", "kode_401", "kode_404")],
    *[("bpjs_kesehatan", name) for _, _, name in PARTICIPANTS],
    *[("bpjs_kesehatan", f"envelope_{name}") for _, _, name in PARTICIPANTS],
    ("bpjs_kesehatan", "envelope_201_not_found"),
    *[("bpjs_kesehatan", name) for name, _ in REFUSALS],
    *[("bpjs_ketenagakerjaan", name) for name, _ in MEMBERS],
    ("bpjs_ketenagakerjaan", "register_created"),
    ("bpjs_ketenagakerjaan", "status_active"),
    *[("bpjs_ketenagakerjaan", name) for name, _ in REGISTRATION_REFUSALS],
    *[("bpjs_ketenagakerjaan", name) for name in ("code_21_reference_conflict", "code_12_registration_not_found",
                                                  "code_39_malformed_request", "code_40_bad_api_key",
                                                  "code_42_quota_exhausted")],
]
"""Every (agency, fixture) a test above compares with its mock's reply."""
