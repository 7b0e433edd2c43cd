"""BPJS Ketenagakerjaan mock, speaking THE PROJECT'S OWN WIRE FORMAT: no public partner API of the agency exists.

docs/agencies.md (section 2) says so, and asks for an honest model instead: this mock and
``adapters.bpjs_ketenagakerjaan`` agree on a small format, invented here and labelled as such everywhere.

- ``POST /api/v1/peserta/cek`` ``{"nik"}``: membership of a NIK (code 10 when it has none).
- ``POST /api/v1/peserta/bpu`` ``{"referensi", "nik", "pekerjaan", "penghasilan", "program", "no_hp", "email"?,
  "alamat"}``: registers a non-wage earner (Bukan Penerima Upah). ``referensi`` is the caller's idempotency key:
  the same reference with the same body answers the original registration again (HTTP 200 instead of 201), with
  another body code 21. Every delivery is counted per reference, registrations once.
- ``POST /api/v1/peserta/bpu/status`` ``{"referensi", "nik"}``: the registration made under that reference
  (code 12 when there is none for that NIK).

Every answer is ``{"kode": "00", "pesan": "...", "data": ...}`` (plus ``kesalahan: [{field, alasan}]`` for code
30) with an HTTP status that mirrors the code; the header ``X-Api-Key`` authenticates. Membership is derived from
the shared population: people with a ``kpj`` are members, wage earners (PU) or, for the self-employed, BPU. Ages
are taken at the population's reference date so that eligibility never changes with the calendar.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import random
import re
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from contracts import check_nik

from ._control import Control, json_response
from ._population import REFERENCE_DATE, Citizen, Population
from ._registry import MockSpec

__all__ = [
    "BAND_FLOORS",
    "MOCK",
    "OCCUPATION_CODES",
    "REGISTRATIONS_KEY",
    "RESULTS",
    "Registration",
    "Registrations",
    "contribution",
    "create_app",
    "membership",
]

RESULTS: dict[str, tuple[int, str]] = {
    "00": (200, "Sukses"),
    "10": (404, "NIK tidak terdaftar sebagai peserta"),
    "11": (422, "NIK tidak ditemukan di database kependudukan"),
    "12": (404, "Pendaftaran dengan referensi tersebut tidak ditemukan"),
    "13": (422, "NIK tercatat meninggal dunia"),
    "14": (422, "Status NIK tidak aktif di database kependudukan"),
    "20": (409, "NIK sudah terdaftar sebagai peserta aktif"),
    "21": (409, "Referensi sudah dipakai untuk data pendaftaran lain"),
    "30": (422, "Data pendaftaran tidak valid"),
    "31": (422, "Usia tidak memenuhi syarat peserta BPU"),
    "39": (400, "Format permintaan tidak valid"),
    "40": (401, "API key tidak valid"),
    "42": (429, "Kuota permintaan harian telah habis"),
}
"""The codes this mock answers with: HTTP status and Indonesian text (both ours, like the whole format)."""

OCCUPATION_CODES = frozenset({"PEDAGANG", "PETANI", "NELAYAN", "PENGEMUDI", "PENGEMUDI_DARING", "PENGRAJIN", "TUKANG",
                              "PEKERJA_RUMAH_TANGGA", "PEKERJA_LEPAS", "LAINNYA"})
"""The BPU occupation codes of the format."""

BAND_FLOORS: dict[str, int] = {"P1": 1_000_000, "P2": 2_000_000, "P3": 3_000_000, "P4": 5_000_000, "P5": 10_000_000}
"""Income band -> the declared income, in rupiah, that contributions are computed from."""

_JKM_FLAT = 6_800
_BPU_AGE = (18, 65)
_WIB = dt.timezone(dt.timedelta(hours=7))
_REFERENCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PHONE = re.compile(r"^628[1-9][0-9]{6,10}$")
_NEIGHBOURHOOD = re.compile(r"^[0-9]{3}$")
_POSTAL = re.compile(r"^[1-9][0-9]{4}$")
_ADDRESS_TEXT = {"jalan": 200, "kelurahan": 60, "kecamatan": 60, "kabupaten": 60, "provinsi": 60}
# Work the population generator gives a KPJ: the self-employed ones are BPU members, the rest wage earners.
_BPU_WORK = frozenset({"WIRASWASTA", "PEDAGANG"})
_NO_PENSION_WORK = frozenset({"BURUH HARIAN LEPAS", "SOPIR"})


def contribution(band: str, programmes: list[str]) -> int:
    """The monthly BPU contribution: JKK 1% and JHT 2% of the band's floor, JKM a flat Rp 6,800."""
    floor = BAND_FLOORS[band]
    total = floor // 100 if "JKK" in programmes else 0
    total += _JKM_FLAT if "JKM" in programmes else 0
    return total + (floor * 2 // 100 if "JHT" in programmes else 0)


def membership(citizen: Citizen) -> dict[str, Any] | None:
    """The wire ``data`` of a population member's membership, or ``None`` for a citizen without a KPJ.

    Modelled rules, fixed by the KPJ so that they never change: wage earners hold all four programmes (day
    labourers and drivers no pension), BPU members JKK and JKM, plus JHT for even KPJs; a KPJ ending in 0 has
    lapsed (``NONAKTIF``), as has every deceased member's.
    """
    if citizen.kpj is None:
        return None
    number = int(citizen.kpj)
    if citizen.occupation in _BPU_WORK:
        category, programmes = "BPU", ["JKK", "JKM", *(["JHT"] if number % 2 == 0 else [])]
    elif citizen.occupation in _NO_PENSION_WORK:
        category, programmes = "PU", ["JHT", "JKK", "JKM"]
    else:
        category, programmes = "PU", ["JHT", "JKK", "JKM", "JP"]
    active = citizen.status != "deceased" and number % 10 != 0
    since = max(_eighteenth_birthday(citizen.birth_date), REFERENCE_DATE - dt.timedelta(days=number % 3650))
    return {
        "kpj": citizen.kpj,
        "kategori": category,
        "status": "AKTIF" if active else "NONAKTIF",
        "program": sorted(programmes),
        "tgl_kepesertaan": since.isoformat(),
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    """One BPU registration: the body it was made with (for idempotency) and the wire ``data`` answered."""

    reference: str
    nik: str
    body: dict[str, Any]
    data: dict[str, Any]

    def membership(self) -> dict[str, Any]:
        """The membership lookup's ``data`` for the registered worker."""
        return {
            "kpj": self.data["kpj"],
            "kategori": "BPU",
            "status": self.data["status"],
            "program": self.data["program"],
            "tgl_kepesertaan": self.data["tgl_daftar"][:10],
        }


class Registrations:
    """The registrations the mock holds, by reference and by NIK."""

    def __init__(self) -> None:
        self._by_reference: dict[str, Registration] = {}
        self._by_nik: dict[str, Registration] = {}

    def __len__(self) -> int:
        return len(self._by_reference)

    def get(self, reference: str) -> Registration | None:
        """The registration made under ``reference``."""
        return self._by_reference.get(reference)

    def for_nik(self, nik: str) -> Registration | None:
        """The registration of ``nik``."""
        return self._by_nik.get(nik)

    def add(self, registration: Registration) -> None:
        """Hold a new registration."""
        self._by_reference[registration.reference] = registration
        self._by_nik[registration.nik] = registration

    def all(self) -> list[Registration]:
        """Every registration, oldest first."""
        return list(self._by_reference.values())

    def clear(self) -> None:
        """Forget every registration."""
        self._by_reference.clear()
        self._by_nik.clear()


REGISTRATIONS_KEY = web.AppKey("mocks.bpjs_ketenagakerjaan.registrations", Registrations)
"""Where :func:`create_app` puts the mock's :class:`Registrations` on the app, for tests."""


def create_app(
    population: Population,
    *,
    api_key: str,
    control: Control | None = None,
    quota: int = 100_000,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(_WIB),
) -> web.Application:
    """The BPJS Ketenagakerjaan mock app for one API key, with its ``/_control/`` routes mounted."""
    if not api_key:
        raise ValueError("api_key must not be empty")
    if quota < 0:
        raise ValueError("quota must not be negative")
    if control is None:
        control = Control("bpjs-ketenagakerjaan", population)
    elif control.population is not population:
        raise ValueError("control must watch the same population the mock serves")
    service = _BpjsTk(population, control, api_key, quota, clock)
    app = web.Application()
    control.install(app)
    app[REGISTRATIONS_KEY] = service.registrations
    app.router.add_post("/api/v1/peserta/cek", service.verify)
    app.router.add_post("/api/v1/peserta/bpu", service.register)
    app.router.add_post("/api/v1/peserta/bpu/status", service.status)
    app.router.add_get("/_control/registrations", service.list_registrations)
    return app


class _BpjsTk:
    def __init__(
        self, population: Population, control: Control, api_key: str, quota: int, clock: Callable[[], dt.datetime]
    ) -> None:
        self._population = population
        self._control = control
        self._api_key = api_key.encode()
        self._quota = quota
        self._remaining = quota
        self._clock = clock
        self.registrations = Registrations()
        self._taken = {c.kpj for c in population if c.kpj is not None}
        self._rng = random.Random(population.seed or 0)
        control.on_reset(self._reset)
        control.on_quota(self._set_quota)

    def _set_quota(self, remaining: int) -> None:
        self._remaining = remaining

    def _reset(self) -> None:
        # A reset stands in for a fresh agency: a new day's quota, nobody registered through the mock.
        self._remaining = self._quota
        self.registrations.clear()
        self._taken = {c.kpj for c in self._population if c.kpj is not None}

    async def verify(self, request: web.Request) -> web.Response:
        body, refused = await self._open(request, "peserta.cek")
        if refused is not None:
            return refused
        nik = body.get("nik")
        if not isinstance(nik, str) or not nik:
            return _reply("39")
        registration = self.registrations.for_nik(nik)
        if registration is not None:
            return _reply("00", registration.membership())
        citizen = self._population.get(nik)
        held = membership(citizen) if citizen is not None else None
        return _reply("10") if held is None else _reply("00", held)

    async def status(self, request: web.Request) -> web.Response:
        body, refused = await self._open(request, "peserta.bpu.status")
        if refused is not None:
            return refused
        reference, nik = body.get("referensi"), body.get("nik")
        if not isinstance(reference, str) or not isinstance(nik, str):
            return _reply("39")
        registration = self.registrations.get(reference)
        # Another NIK's registration is "not found" too: a reference alone must not disclose anyone's KPJ.
        if registration is None or registration.nik != nik:
            return _reply("12")
        return _reply("00", registration.data)

    async def register(self, request: web.Request) -> web.Response:
        body, refused = await self._open(request, "peserta.bpu", reference_key="referensi")
        if refused is not None:
            return refused
        reference, nik = body.get("referensi"), body.get("nik")
        if not isinstance(reference, str) or not _REFERENCE.match(reference) or not isinstance(nik, str):
            return _reply("39")
        known = self.registrations.get(reference)
        if known is not None:
            return _reply("00", known.data) if known.body == body else _reply("21")
        problems = _invalid_fields(body)
        if problems:
            return _reply("30", errors=problems)
        citizen = self._population.get(nik)
        if citizen is None:
            return _reply("11")
        if citizen.status == "deceased":
            return _reply("13")
        if citizen.status == "inactive":
            return _reply("14")
        low, high = _BPU_AGE
        if not low <= citizen.age(REFERENCE_DATE) < high:
            return _reply("31")
        held = membership(citizen)
        if self.registrations.for_nik(nik) is not None or (held is not None and held["status"] == "AKTIF"):
            return _reply("20")
        # A lapsed member keeps their KPJ for life: the registration reactivates it under BPU.
        kpj = citizen.kpj if citizen.kpj is not None else self._new_kpj()
        registration = Registration(reference, nik, body, self._registration_data(reference, kpj, body))
        self.registrations.add(registration)
        return _reply("00", registration.data, status=201)

    async def list_registrations(self, request: web.Request) -> web.Response:
        rows = [{"reference": r.reference, "nik": r.nik, "kpj": r.data["kpj"]} for r in self.registrations.all()]
        return json_response({"count": len(rows), "registrations": rows})

    async def _open(
        self, request: web.Request, method: str, *, reference_key: str | None = None
    ) -> tuple[dict[str, Any], web.Response | None]:
        """The request's JSON object, or the refusal to send: bad body 39, bad key 40, quota 42."""
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        reference = body.get(reference_key) if isinstance(body, dict) and reference_key else None
        # Every request the service read counts, refused ones included: each reached the agency and its logs.
        self._control.record_delivery(method, reference if isinstance(reference, str) else None)
        if not hmac.compare_digest(request.headers.get("X-Api-Key", "").encode(), self._api_key):
            return {}, _reply("40")
        if self._remaining <= 0:
            return {}, _reply("42")
        self._remaining -= 1
        if not isinstance(body, dict):
            return {}, _reply("39")
        return body, None

    def _new_kpj(self) -> str:
        kpj = str(self._rng.randrange(10**10, 10**11))
        while kpj in self._taken:
            kpj = str(self._rng.randrange(10**10, 10**11))
        self._taken.add(kpj)
        return kpj

    def _registration_data(self, reference: str, kpj: str, body: dict[str, Any]) -> dict[str, Any]:
        programmes = sorted(body["program"])
        return {
            "referensi": reference,
            "kpj": kpj,
            "status": "MENUNGGU_IURAN_PERTAMA",
            "program": programmes,
            "iuran_bulanan": contribution(body["penghasilan"], programmes),
            # Modelled: a 16-digit payment code, "89", the KPJ and a sequence number.
            "kode_iuran": f"89{kpj}{(len(self.registrations) + 1) % 1000:03d}",
            "tgl_daftar": self._clock().isoformat(timespec="seconds"),
        }


def _reply(
    code: str, data: dict[str, Any] | None = None, *, errors: list[dict[str, str]] | None = None, status: int = 0
) -> web.Response:
    http_status, text = RESULTS[code]
    envelope: dict[str, Any] = {"kode": code, "pesan": text, "data": data}
    if errors:
        envelope["kesalahan"] = errors
    return json_response(envelope, status=status or http_status)


def _invalid_fields(body: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with a registration body, field by field (empty when nothing is)."""
    problems: list[dict[str, str]] = []

    def refuse(field: str, reason: str) -> None:
        problems.append({"field": field, "alasan": reason})

    try:
        check_nik(body["nik"])
    except ValueError:
        refuse("nik", "format NIK tidak valid")
    if body.get("pekerjaan") not in OCCUPATION_CODES:
        refuse("pekerjaan", "kode pekerjaan tidak dikenal")
    if body.get("penghasilan") not in BAND_FLOORS:
        refuse("penghasilan", "kode penghasilan tidak dikenal")
    programmes = body.get("program")
    if (
        not isinstance(programmes, list)
        or not all(isinstance(p, str) for p in programmes)
        or len(set(programmes)) != len(programmes)
        or not {"JKK", "JKM"} <= set(programmes) <= {"JKK", "JKM", "JHT"}
    ):
        refuse("program", "peserta BPU wajib JKK dan JKM, boleh JHT")
    phone = body.get("no_hp")
    if not isinstance(phone, str) or not _PHONE.match(phone):
        refuse("no_hp", "nomor HP harus 628...")
    email = body.get("email")
    if email is not None and (not isinstance(email, str) or "@" not in email or len(email) > 254):
        refuse("email", "alamat email tidak valid")
    address = body.get("alamat")
    if not isinstance(address, dict):
        refuse("alamat", "alamat wajib diisi")
        return problems
    for key, limit in _ADDRESS_TEXT.items():
        value = address.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            refuse(f"alamat.{key}", "wajib diisi")
    for key, shape in (("rt", _NEIGHBOURHOOD), ("rw", _NEIGHBOURHOOD), ("kode_pos", _POSTAL)):
        value = address.get(key)
        if value is not None and (not isinstance(value, str) or not shape.match(value)):
            refuse(f"alamat.{key}", "format tidak valid")
    return problems


def _eighteenth_birthday(born: dt.date) -> dt.date:
    try:
        return born.replace(year=born.year + 18)
    except ValueError:  # born on 29 February
        return born.replace(year=born.year + 18, day=28)


def _build(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {"api_key": secrets.token_urlsafe(24)}
    return create_app(population, api_key=settings["api_key"], control=control), settings


MOCK = MockSpec(_build, default_port=8103)
"""The runner's entry (``mpp_gateway.mocks``): a fresh API key per cluster, on port 8103."""
