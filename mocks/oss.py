"""OSS RBA mock: ``POST /v1/kl/rba/{method}`` (and staging ``/stg/v1/kl/rba/{method}``) as OSS answers it.

OSS is reached with a ``user_key`` header and JSON bodies wrapped in one upper-case key (``{"INQUERYNIB": {...}}``);
it answers ``{"respon<method>": {"kode": ..., "keterangan": ...}}`` (docs/agencies.md, section 4). Every answer of the
application itself is HTTP 200 here, the outcome in ``kode`` as in every example of the guide; with
``mirror_kode=True`` the HTTP status repeats the kode instead, the other reading of the guide, so an adapter can be
tested against both. Unknown methods get kode 404, a missing or wrong ``user_key`` kode 401.

The registry is synthetic and derived from the shared population: some adults own a business (PT, CV or PT
Perorangan) with an NIB, projects under KBLI 2020 codes (kept as strings: ``01112``) and, for risk classes above
low, a permit with an ``id_izin`` and a status. Status updates and final permits change that state, so
``checkLicenseStatus`` shows them; delivering the same update twice changes nothing but counts two deliveries.
Deliveries are counted per reference from the ``X-MPP-Reference`` header, which the real OSS ignores.

Every field the PIA guide (v4.3.22) marks required in a method's body (:data:`REQUIRED_FIELDS`) must be present:
``""`` is a value, as in the guide's own examples; a key that is absent (or ``null``) is refused with kode 400 in the
shape the guide documents for a missing parameter, ``{"kode": 400, "keterangan": "parameter tidak ditemukan",
"meta": [{"message": "<field> is required", "field": "<field>"}, ...]}``, one entry per missing field. An
``INQUERYNIB`` may name the business by ``npwp`` instead of ``nib`` (the guide's third example).
"""

from __future__ import annotations

import dataclasses
import hmac
import random
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from ._control import Control, json_response
from ._population import REFERENCE_DATE, Citizen, Population
from ._registry import MockSpec

__all__ = [
    "API_PATHS",
    "KBLI",
    "MOCK",
    "PERMIT_STATUSES",
    "REQUIRED_FIELDS",
    "Business",
    "Permit",
    "Project",
    "businesses",
    "create_app",
]

API_PATHS = ("/v1/kl/rba", "/stg/v1/kl/rba")
"""Production and staging prefixes; both serve the same registry."""

REFERENCE_HEADER = "X-MPP-Reference"

KBLI: dict[str, tuple[str, str]] = {
    "01112": ("PERTANIAN JAGUNG", "R"),
    "01131": ("PERTANIAN HORTIKULTURA SAYURAN DAUN", "R"),
    "03111": ("PENANGKAPAN IKAN DI LAUT", "MR"),
    "10710": ("INDUSTRI PRODUK ROTI DAN KUE", "MR"),
    "14111": ("INDUSTRI PAKAIAN JADI (KONVEKSI) DARI TEKSTIL", "MR"),
    "47111": ("PERDAGANGAN ECERAN YANG UTAMANYA MAKANAN, MINUMAN ATAU TEMBAKAU DI MINIMARKET", "MR"),
    "47211": ("PERDAGANGAN ECERAN PADI DAN PALAWIJA", "R"),
    "56101": ("RESTORAN", "MR"),
    "56103": ("KEDAI MAKANAN", "R"),
    "55110": ("HOTEL BINTANG", "MT"),
    "46900": ("PERDAGANGAN BESAR BERBAGAI MACAM BARANG", "MT"),
    "35101": ("PEMBANGKITAN TENAGA LISTRIK", "T"),
}
"""KBLI 2020 code -> (activity, risk class) of the synthetic registry; the risk classes are illustrative."""

PERMIT_STATUSES: dict[str, str] = {
    "05": "Screening", "10": "Dokumen lengkap", "11": "Dokumen tidak lengkap", "20": "Validasi",
    "30": "Menunggu pembayaran", "31": "Pembayaran", "32": "Pembayaran", "33": "Pembayaran", "34": "Pembayaran",
    "40": "Pemeriksaan lapangan", "45": "Persyaratan terverifikasi", "50": "Izin disetujui",
    "52": "Izin terbit sementara", "57": "Disetujui otomatis", "58": "Izin terbit/SS terverifikasi",
    "90": "Izin ditolak", "93": "Persyaratan ditolak",
}
"""Status codes the mock accepts, with its own Indonesian wording (the codes are OSS's, the text ours)."""

REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "inqueryNIB": ("nib",),
    "checkNIB": ("nib",),
    "checkLicenseStatus": ("id_izin",),
    "receiveLicenseStatus": (
        "nib", "id_produk", "id_proyek", "oss_id", "id_izin", "kd_izin", "kd_instansi", "kd_status", "tgl_status",
        "nip_status", "nama_status", "keterangan",
    ),
    "receiveLicense": (
        "nib", "id_proyek", "oss_id", "id_izin", "kd_izin", "kd_daerah", "nomor_izin", "tgl_terbit_izin",
        "tgl_berlaku_izin", "nama_ttd", "nip_ttd", "jabatan_ttd", "status_izin",
    ),
    "getDataReferensi": ("kode",),
}  # fmt: skip
"""Per method, the body fields the guide marks required (written without ``[brackets]`` in its field lists)."""

_OWNER_WORK = frozenset({"WIRASWASTA", "PEDAGANG", "PETANI/PEKEBUN", "NELAYAN/PERIKANAN"})
_TYPES = (("26", "PT", "DIREKTUR"), ("02", "CV", "PERSEKUTU AKTIF"), ("01", "PT", "DIREKTUR UTAMA"))
_WORDS = ("SUMBER", "REJEKI", "MAJU", "JAYA", "ABADI", "SENTOSA", "MAKMUR", "BERKAH", "MANDIRI", "SEJAHTERA", "TANI",
          "NUSANTARA", "KARYA", "USAHA", "MITRA", "BAROKAH")
_PERMIT_NAMES = {"MR": "Sertifikat Standar", "MT": "Sertifikat Standar (terverifikasi)", "T": "Izin"}
_STATUS_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_NIB = re.compile(r"^[0-9]{13}$")


@dataclasses.dataclass(frozen=True, slots=True)
class Project:
    """One business activity."""

    id_proyek: str
    kbli: str
    skala_usaha: str

    @property
    def risk(self) -> str:
        """The KBLI's risk class."""
        return KBLI[self.kbli][1]


@dataclasses.dataclass(frozen=True, slots=True)
class Permit:
    """A permit on a business's checklist, in its initial state."""

    id_izin: str
    id_proyek: str
    kd_izin: str
    nama_izin: str
    kd_daerah: str
    instansi: str
    status: str


@dataclasses.dataclass(frozen=True, slots=True)
class Business:
    """A registered business: its NIB record, owned by one citizen of the population."""

    nib: str
    oss_id: str
    owner: Citizen
    nama_perseroan: str
    jenis_perseroan: str
    jabatan: str
    npwp: str
    status_penanaman_modal: str
    status_nib: str
    tgl_terbit_nib: date
    no_npp: str
    no_wlkp: str
    projects: tuple[Project, ...]
    permits: tuple[Permit, ...]


def businesses(population: Population) -> tuple[Business, ...]:
    """The synthetic registry of ``population``: the same population always yields the same businesses."""
    rng = random.Random(f"oss:{population.seed}:{len(population)}")
    found: dict[str, Business] = {}
    for citizen in population:
        owner_like = citizen.occupation in _OWNER_WORK
        if citizen.status != "active" or citizen.age() < 21 or rng.random() >= (0.6 if owner_like else 0.04):
            continue
        business = _business(rng, citizen, len(found))
        while business.nib in found:  # twelve random digits: a clash is rare, but the NIB is the key
            business = _business(rng, citizen, len(found))
        found[business.nib] = business
    return tuple(found.values())


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _business(rng: random.Random, owner: Citizen, index: int) -> Business:
    issued = REFERENCE_DATE - timedelta(days=rng.randint(30, 1800))
    # OSS ids are a timestamp (office hours of the NIB's day) and a serial.
    stamp = f"{issued:%Y%m%d}{rng.randint(8, 16):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"
    code, prefix, position = _TYPES[index % len(_TYPES)]
    name = " ".join(rng.sample(_WORDS, 3 if code != "02" else 2))
    # Every code appears early, so a test can find a leading zero (01112) or a high-risk activity among a few.
    codes = list(KBLI)
    kblis = [codes[index % len(codes)], *rng.sample(codes, rng.randint(0, 2))]
    projects = tuple(
        Project(f"R-{stamp}{i:03d}{_digits(rng, 4)}", kbli, "01" if rng.random() < 0.8 else "02")
        for i, kbli in enumerate(dict.fromkeys(kblis))
    )
    region = owner.regency_code
    permits = tuple(
        Permit(
            id_izin=f"I-{stamp}{i:03d}{_digits(rng, 4)}",
            id_proyek=project.id_proyek,
            kd_izin=f"{region}{_digits(rng, 8)}",
            nama_izin=_PERMIT_NAMES[project.risk],
            kd_daerah=f"{region}000000",
            instansi=f"PEMERINTAH {owner.regency_name}",
            status=rng.choice(("05", "10", "20", "45")),
        )
        for i, project in enumerate(projects)
        if project.risk != "R"
    )
    return Business(
        nib=f"{rng.choice('89')}{_digits(rng, 12)}",
        oss_id=f"P02-{stamp}000{_digits(rng, 4)}",
        owner=owner,
        nama_perseroan=f"{prefix} {name}",
        jenis_perseroan=code,
        jabatan=position,
        npwp=_digits(rng, 15),
        status_penanaman_modal="02",
        status_nib="01" if rng.random() < 0.95 else "06",
        tgl_terbit_nib=issued,
        no_npp=_digits(rng, 8) if rng.random() < 0.6 else "",
        no_wlkp=_digits(rng, 17) if rng.random() < 0.4 else "",
        projects=projects,
        permits=permits,
    )


def create_app(
    population: Population, *, user_key: str, control: Control | None = None, mirror_kode: bool = False
) -> web.Application:
    """The OSS mock for one ``user_key``, with ``/_control/`` routes (``/_control/businesses`` included)."""
    if not user_key:
        raise ValueError("user_key must not be empty")
    if control is None:
        control = Control("oss", population)
    elif control.population is not population:
        raise ValueError("control must watch the same population the mock serves")
    service = _Oss(businesses(population), control, user_key, mirror_kode)
    app = web.Application()
    control.install(app)
    app.router.add_get("/_control/businesses", service.list_businesses)
    for prefix in API_PATHS:
        app.router.add_post(prefix + "/{method}", service.handle)
    return app


class _Refused(Exception):
    def __init__(self, kode: int, text: str, meta: list[dict[str, str]] | None = None) -> None:
        super().__init__(text)
        self.kode = kode
        self.text = text
        self.meta = meta


def _require(method: str, fields: Mapping[str, Any]) -> None:
    """Refuse as OSS does when a required field is absent or null (``""`` is a value)."""
    required = REQUIRED_FIELDS.get(method, ())
    if method == "inqueryNIB" and fields.get("npwp") is not None:
        required = ()  # the business named by its NPWP alone
    missing = [name for name in required if fields.get(name) is None]
    if missing:
        meta = [{"message": f"{name} is required", "field": name} for name in missing]
        raise _Refused(400, "parameter tidak ditemukan", meta)


class _Oss:
    def __init__(self, registry: tuple[Business, ...], control: Control, user_key: str, mirror_kode: bool) -> None:
        self._registry = registry
        self._by_nib = {b.nib: b for b in registry}
        self._permits = {p.id_izin: (b, p) for b in registry for p in b.permits}
        self._control = control
        self._user_key = user_key
        self._mirror = mirror_kode
        self._state: dict[str, dict[str, str]] = {}
        self._methods: Mapping[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
            "inqueryNIB": ("INQUERYNIB", self._inquiry),
            "checkNIB": ("CHECKNIB", self._check),
            "checkLicenseStatus": ("CHECKLICENSESTATUS", self._license_status),
            "receiveLicenseStatus": ("IZINSTATUS", self._receive_status),
            "receiveLicense": ("IZINFINAL", self._receive_license),
            "getDataReferensi": ("GETDATAREFERENSI", self._reference),
        }
        self._restore()
        control.on_reset(self._restore)

    def _restore(self) -> None:
        self._state = {
            p.id_izin: {"kd_status": p.status, "tgl_status": "", "nomor_izin": ""} for b in self._registry
            for p in b.permits
        }

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            if not hmac.compare_digest(request.headers.get("user_key", "").encode(), self._user_key.encode()):
                raise _Refused(401, "User akses tidak valid")
            entry = self._methods.get(method)
            if entry is None:
                raise _Refused(404, "Service tidak ditemukan")
            wrapper, answer = entry
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                raise _Refused(400, "Format data tidak valid") from None
            fields = body.get(wrapper) if isinstance(body, dict) else None
            if not isinstance(fields, dict):
                raise _Refused(400, f"Parameter {wrapper} tidak ditemukan")
            if method.startswith("receive"):
                # Every submission that reached OSS's processing counts, refused or not: it is in OSS's logs.
                self._control.record_delivery(method, request.headers.get(REFERENCE_HEADER) or None)
            _require(method, fields)
            reply = {"kode": 200, "keterangan": "Sukses", **answer(fields)}
        except _Refused as refused:
            reply = {"kode": refused.kode, "keterangan": refused.text}
            if refused.meta is not None:
                reply["meta"] = refused.meta
        status = int(reply["kode"]) if self._mirror else 200
        return json_response({f"respon{method}": reply}, status=status)

    def _business(self, fields: Mapping[str, Any]) -> Business:
        nib, npwp = _text(fields.get("nib")), _text(fields.get("npwp"))
        if npwp and not nib:
            found = next((b for b in self._registry if b.npwp == npwp), None)
        elif not _NIB.match(nib):
            raise _Refused(400, "Parameter nib tidak valid")
        else:
            found = self._by_nib.get(nib)
            oss_id = _text(fields.get("oss_id"))
            if found is not None and oss_id and oss_id != found.oss_id:
                found = None
        if found is None:
            raise _Refused(400, "Data NIB tidak ditemukan")
        return found

    def _inquiry(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {"dataNIB": self.data_nib(self._business(fields))}

    def _check(self, fields: dict[str, Any]) -> dict[str, Any]:
        b = self._business(fields)
        return {"dataNIB": {"nib": b.nib, "nama_perusahaan": b.nama_perseroan, "status": b.status_nib}}

    def _permit(self, fields: Mapping[str, Any]) -> tuple[Business, Permit]:
        found = self._permits.get(_text(fields.get("id_izin")))
        if found is None:
            raise _Refused(400, "Data izin tidak ditemukan")
        return found

    def _license_status(self, fields: dict[str, Any]) -> dict[str, Any]:
        business, permit = self._permit(fields)
        status = self._state[permit.id_izin]["kd_status"]
        return {"dataIZIN": {"nib": business.nib, "id_proyek": permit.id_proyek, "id_izin": permit.id_izin,
                             "kd_status": status, "uraian_status": PERMIT_STATUSES[status], "file_lampiran": ""}}

    def _matching(self, fields: Mapping[str, Any], required: tuple[str, ...]) -> Permit:
        missing = [key for key in required if not _text(fields.get(key))]
        if missing:
            raise _Refused(400, f"Parameter {missing[0]} wajib diisi")
        business, permit = self._permit(fields)
        held = {"nib": business.nib, "oss_id": business.oss_id, "id_proyek": permit.id_proyek}
        held["kd_izin"] = permit.kd_izin
        if any(_text(fields.get(key)) != held[key] for key in held):
            raise _Refused(400, "Data izin tidak sesuai")
        return permit

    def _receive_status(self, fields: dict[str, Any]) -> dict[str, Any]:
        permit = self._matching(fields, ("nib", "id_proyek", "oss_id", "id_izin", "kd_izin", "kd_instansi",
                                         "kd_status", "tgl_status", "nip_status", "nama_status"))
        status, when = _text(fields.get("kd_status")), _text(fields.get("tgl_status"))
        if status not in PERMIT_STATUSES:
            raise _Refused(400, "Kode status izin tidak valid")
        if not _STATUS_FORMAT.match(when) or _moment(when) is None:
            raise _Refused(400, "Format tgl_status tidak valid")
        # The last update wins, as the guide gives OSS no way to refuse an older one: a repeat changes nothing.
        self._state[permit.id_izin] |= {"kd_status": status, "tgl_status": when}
        return {"dataNIB": {}}

    def _receive_license(self, fields: dict[str, Any]) -> dict[str, Any]:
        permit = self._matching(fields, ("nib", "id_proyek", "oss_id", "id_izin", "kd_izin", "kd_daerah",
                                         "nomor_izin", "tgl_terbit_izin", "nama_ttd", "nip_ttd", "jabatan_ttd",
                                         "status_izin"))
        status = _text(fields.get("status_izin"))
        if status not in PERMIT_STATUSES:
            raise _Refused(400, "Kode status izin tidak valid")
        if _day(fields.get("tgl_terbit_izin")) is None or (
            _text(fields.get("tgl_berlaku_izin")) and _day(fields.get("tgl_berlaku_izin")) is None
        ):
            raise _Refused(400, "Format tanggal izin tidak valid")
        number = _text(fields.get("nomor_izin"))
        self._state[permit.id_izin] |= {"kd_status": status, "nomor_izin": number}
        return {"nomor_izin": number, "jenis_perizinan": _text(fields.get("jenis_perizinan")), "file_lampiran": ""}

    def _reference(self, fields: dict[str, Any]) -> dict[str, Any]:
        tables = {
            "2": {"01": "PT", "02": "CV", "26": "PT Perorangan", "28": "BUM Desa"},
            "10": PERMIT_STATUSES,
            "11": {"01": "Mikro", "02": "Kecil", "03": "Menengah", "04": "Besar"},
        }
        table = tables.get(_text(fields.get("kode")))
        if table is None:
            raise _Refused(400, "Kode referensi tidak ditemukan")
        return {"dataReferensi": [{"kode": code, "uraian": text} for code, text in table.items()]}

    def data_nib(self, b: Business) -> dict[str, Any]:
        """The ``dataNIB`` of ``b`` with its permits' current state, as OSS sends it (every value a string)."""
        owner = b.owner
        return {
            "nib": b.nib, "oss_id": b.oss_id, "tgl_pengajuan_nib": b.tgl_terbit_nib.isoformat(),
            "tgl_terbit_nib": b.tgl_terbit_nib.isoformat(), "tgl_perubahan_nib": "", "jenis_pelaku_usaha": "01",
            "no_npp": b.no_npp, "no_va": "", "no_wlkp": b.no_wlkp, "flag_umk": "Y", "versi_pia": "4.3",
            "skala_usaha": max(p.skala_usaha for p in b.projects), "status_badan_hukum": "02",
            "status_penanaman_modal": b.status_penanaman_modal, "npwp_perseroan": b.npwp,
            "nama_perseroan": b.nama_perseroan, "nama_singkatan": "", "jenis_perseroan": b.jenis_perseroan,
            "alamat_perseroan": owner.address, "perseroan_daerah_id": owner.village_code,
            "penanggung_jwb": [{
                "flag_asing": "N", "jns_identitas_penanggung_jwb": "01", "no_identitas_penanggung_jwb": owner.nik,
                "nama_penanggung_jwb": owner.full_name, "jabatan_penanggung_jwb": b.jabatan,
                "kebangsaan_penanggung_jwb": "ID", "alamat_penanggung_jwb": owner.address,
                "rt_rw_penanggung_jwb": f"{owner.rt}/{owner.rw}", "daerah_id_penanggung_jwb": owner.village_code,
            }],
            "data_proyek": [{
                "id_proyek": p.id_proyek, "kbli": p.kbli, "uraian_usaha": KBLI[p.kbli][0], "skala_usaha": p.skala_usaha,
                "skala_resiko": p.risk, "sektor": "", "data_lokasi_proyek": [
                    {"proyek_daerah_id": owner.village_code, "alamat_usaha": owner.address}],
            } for p in b.projects],
            "data_checklist": [self._checklist(p) for p in b.permits],
            "status_nib": b.status_nib, "tipe_dokumen": "9",
        }

    def _checklist(self, p: Permit) -> dict[str, Any]:
        state = self._state[p.id_izin]
        return {"id_izin": p.id_izin, "id_proyek": p.id_proyek, "kd_izin": p.kd_izin, "kd_daerah": p.kd_daerah,
                "nama_izin": p.nama_izin, "instansi": p.instansi, "flag_checklist": "Y",
                "status_checklist": state["kd_status"], "no_izin": state["nomor_izin"], "tgl_izin": ""}

    async def list_businesses(self, request: web.Request) -> web.Response:
        # Full NIBs, NIKs and permit ids on purpose: this is how a tester picks synthetic records to ask about.
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return json_response({"message": "limit must be an integer from 1 to 1000"}, status=422)
        risk = request.query.get("risk") or None
        with_permits = request.query.get("permits", "").lower() == "true"
        chosen = [
            b for b in self._registry
            if (risk is None or any(p.risk == risk for p in b.projects)) and (b.permits or not with_permits)
        ][:limit]
        return json_response({"count": len(chosen), "businesses": [self._summary(b) for b in chosen]})

    def _summary(self, b: Business) -> dict[str, Any]:
        return {
            "nib": b.nib, "oss_id": b.oss_id, "nama_perseroan": b.nama_perseroan, "jenis_perseroan": b.jenis_perseroan,
            "owner_nik": b.owner.nik, "status_nib": b.status_nib, "npwp": b.npwp,
            "projects": [{"id_proyek": p.id_proyek, "kbli": p.kbli, "skala_resiko": p.risk} for p in b.projects],
            "permits": [{"id_izin": p.id_izin, "id_proyek": p.id_proyek, "kd_izin": p.kd_izin, "kd_daerah": p.kd_daerah,
                         **self._state[p.id_izin]} for p in b.permits],
        }


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _moment(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(_text(value))
    except ValueError:
        return None


def _build(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {
        "user_key": secrets.token_hex(16),
        # The adapter's receiveNIB route (an inbound route) checks the Token OSS computes from these two.
        "inbound_username": f"oss_{secrets.token_hex(4)}",
        "inbound_password": secrets.token_urlsafe(18),
    }
    return create_app(population, user_key=settings["user_key"], control=control), settings


MOCK = MockSpec(_build, default_port=8104, base_path="/v1/kl/rba")
"""The runner's entry (``mpp_gateway.mocks``): a fresh user_key and receiveNIB pair per cluster, on port 8104."""
