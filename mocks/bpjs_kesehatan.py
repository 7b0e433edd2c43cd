"""BPJS Kesehatan mock: VClaim v2's participant lookups as the API gateway answers them (docs/agencies.md, section 1).

The mock serves VClaim under its real base paths (``/vclaim-rest`` and ``/vclaim-rest-dev``) so that an adapter
only changes its base URL. It copies the service's habits, quirks included:

- every request must carry ``X-cons-id``, ``X-timestamp``, ``X-signature`` and ``user_key`` (names in any case);
  a missing or wrong one is answered with a plain ``metaData`` error envelope and HTTP 200, as VClaim answers
  business failures;
- the ``response`` of a success is lz-string compressed, AES-256-CBC encrypted with a key derived from the
  caller's own ``X-timestamp``, and base64 encoded; ``metaData`` stays plain;
- an unknown card number, or a NIK that is malformed or unknown, is ``metaData.code "201"`` with ``response``
  ``null``; inactive and deceased participants are found, with their ``statusPeserta``;
- an inactive citizen of the population is a participant whose cover lapsed for unpaid premiums:
  ``statusPeserta {"kode": "9", "keterangan": "NON AKTIF KARNA PREMI"}`` and
  ``provUmum {"kdProvider": null, "nmProvider": null}``, as a public capture of VClaim's reply shows. Testers find
  them with ``GET /_control/citizens?status=inactive``;
- a JSON body is accepted under ``Content-Type: Application/x-www-form-urlencoded`` as under
  ``application/json`` (the only POST here is the mock's own ``_mock/echo``, for the POST services to come);
- a path the gateway does not know, and for now every path under ``/antreanrs``, ``/pcare-rest`` and
  ``/apotek-rest``, meets the front proxy's HTML 404 page.

Modelled rather than known, as nothing public shows it: the error codes and texts of a refused signature
(``401``), user key (``403``) or stale timestamp (``408``); the allowed clock skew (5 minutes either way by
default); ``statusPeserta`` ``1`` MENINGGAL (``0`` AKTIF and ``9`` NON AKTIF KARNA PREMI are captured); participant
types other than 13 and 21; provider codes, ``pisa`` values, phone and medical record numbers; every Indonesian message.
A participant's state does not depend on the service date: the population records no dates of death.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
from aiohttp import web

from ._control import Control, json_response
from ._population import REFERENCE_DATE, Citizen, Population
from ._registry import MockSpec
from .bpjs_crypto import encrypt_response, signature

__all__ = ["BASE_PATHS", "MESSAGES", "MOCK", "create_app", "peserta", "read_json_body"]

BASE_PATHS: tuple[str, ...] = ("/vclaim-rest", "/vclaim-rest-dev")
"""Where VClaim lives, in production and in development."""

MESSAGES: Mapping[str, str] = {
    "200": "OK",
    "201-not-found": "Peserta tidak ditemukan",
    "201-nik": "NIK tidak sesuai format (16 digit)",
    "201-card": "Nomor kartu tidak sesuai format (13 digit)",
    "201-date": "Format tanggal SEP tidak sesuai (yyyy-MM-dd)",
    "201-body": "Request body bukan JSON yang valid",
    "401-headers": "Header X-cons-id, X-timestamp dan X-signature wajib diisi",
    "401": "Signature tidak valid",
    "403": "user_key tidak valid untuk layanan ini",
    "408": "X-timestamp di luar batas waktu yang diizinkan",
}
"""The mock's Indonesian ``metaData.message`` texts, by code (and reason): ours, not BPJS's."""

_WIB = timezone(timedelta(hours=7), "WIB")  # BPJS keeps its calendar in Western Indonesia Time
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STATUS: Mapping[str, tuple[str, str]] = {
    "active": ("0", "AKTIF"),
    "deceased": ("1", "MENINGGAL"),
    "inactive": ("9", "NON AKTIF KARNA PREMI"),
}
_CLASSES = {1: "KELAS I", 2: "KELAS II", 3: "KELAS III"}
_PISA = {"KEPALA KELUARGA": "1", "ISTRI": "2", "ANAK": "3"}
_WAGE_WORK = frozenset({"KARYAWAN SWASTA", "KARYAWAN BUMN", "BURUH HARIAN LEPAS", "SOPIR", "PERAWAT", "GURU"})
_GOVERNMENT_WORK = frozenset(
    {"PEGAWAI NEGERI SIPIL (PNS)", "TENTARA NASIONAL INDONESIA (TNI)", "KEPOLISIAN RI (POLRI)"}
)
_JKN_START = date(2014, 1, 1)

_NOT_FOUND_HTML = """<html>
<head><title>404 Not Found</title></head>
<body>
<center><h1>404 Not Found</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def _age(born: date, on: date) -> str:
    """VClaim's age text, ``"35 tahun ,4 bulan ,29 hari"`` (the odd spacing is the service's)."""
    if on <= born:
        return "0 tahun ,0 bulan ,0 hari"
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    # The last "month birthday" on or before ``on``; born on the 31st, it falls on a shorter month's last day.
    year, month = divmod(born.month - 1 + months, 12)
    anchor = date(born.year + year, month + 1, 1)
    anchor = anchor.replace(day=min(born.day, _month_length(anchor)))
    return f"{months // 12} tahun ,{months % 12} bulan ,{(on - anchor).days} hari"


def _month_length(day: date) -> int:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _participant_type(citizen: Citizen, head: Citizen) -> tuple[str, str]:
    # A family is covered through its head's membership, so the head's work decides the segment (modelled).
    if head.occupation in _WAGE_WORK:
        return "13", "PEGAWAI SWASTA"
    if head.occupation in _GOVERNMENT_WORK:
        return "2", "PEGAWAI NEGERI SIPIL"
    if citizen.bpjs_class == 3:
        return "21", "PBI (APBN)"
    return "14", "PEKERJA MANDIRI"


def peserta(citizen: Citizen, service_date: date, *, today: date, head: Citizen | None = None) -> dict[str, Any]:
    """The decrypted ``response["peserta"]`` for ``citizen``, asked about ``service_date`` on ``today``.

    ``head`` is the citizen's head of household (the citizen when ``None``); every value is a string or ``null``,
    as on the wire, and derived from the citizen alone, so the same person always looks the same.
    """
    card = citizen.no_kartu
    spread = int(card[-4:])
    if citizen.birth_date >= _JKN_START:
        covered_from = citizen.birth_date
    else:
        covered_from = _JKN_START + timedelta(days=spread % 1800)
    printed = covered_from + timedelta(days=14 + spread % 100)
    if citizen.status == "active":
        covered_until = date(REFERENCE_DATE.year + 1, 12, 31)
    else:
        covered_until = max(covered_from, REFERENCE_DATE - timedelta(days=30 + spread % 300))
    status_code, status_text = _STATUS[citizen.status]
    type_code, type_text = _participant_type(citizen, head or citizen)
    return {
        "cob": {"nmAsuransi": None, "noAsuransi": None, "tglTAT": None, "tglTMT": None},
        "hakKelas": {"keterangan": _CLASSES[citizen.bpjs_class], "kode": str(citizen.bpjs_class)},
        "informasi": {"dinsos": None, "eSEP": None, "noSKTM": None, "prolanisPRB": None},
        "jenisPeserta": {"keterangan": type_text, "kode": type_code},
        "mr": {
            "noMR": card[-6:] if spread % 2 == 0 else None,
            "noTelepon": "08" + card[3:],
        },
        "nama": citizen.full_name,
        "nik": citizen.nik,
        "noKartu": card,
        "pisa": _PISA.get(citizen.family_relation, "1"),
        "provUmum": _provider(citizen),
        "sex": "L" if citizen.sex == "LAKI-LAKI" else "P",
        "statusPeserta": {"keterangan": status_text, "kode": status_code},
        "tglCetakKartu": printed.isoformat() if printed <= REFERENCE_DATE else None,
        "tglLahir": citizen.birth_date.isoformat(),
        "tglTAT": covered_until.isoformat(),
        "tglTMT": covered_from.isoformat(),
        "umur": {
            "umurSaatPelayanan": _age(citizen.birth_date, service_date),
            "umurSekarang": _age(citizen.birth_date, today),
        },
    }


def _provider(citizen: Citizen) -> dict[str, str | None]:
    # Cover lapsed for unpaid premiums: VClaim names no primary care provider, but keeps the keys, both null.
    if citizen.status == "inactive":
        return {"kdProvider": None, "nmProvider": None}
    return {
        "kdProvider": f"{citizen.regency_code}U{int(citizen.district_code[4:]):03d}",
        "nmProvider": f"PUSKESMAS {citizen.district_name}",
    }


async def read_json_body(request: web.Request) -> Any:
    """The request's JSON body, whatever its content type says; raises ``ValueError`` when it is not JSON.

    VClaim clients send JSON as ``Application/x-www-form-urlencoded``; the service reads it as JSON all the same.
    """
    return orjson.loads(await request.read())


def create_app(
    population: Population,
    *,
    cons_id: str,
    consumer_secret: str,
    user_key: str,
    max_skew_seconds: int = 300,
    control: Control | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The VClaim mock for one consumer's credentials, with its ``/_control/`` routes mounted.

    ``clock`` (Unix seconds) is what ``X-timestamp`` is held against, ``max_skew_seconds`` either way.
    """
    if max_skew_seconds < 0:
        raise ValueError("max_skew_seconds must not be negative")
    if control is None:
        control = Control("bpjs-kesehatan", population)
    elif control.population is not population:
        raise ValueError("control must watch the same population the mock serves")
    service = _VClaim(population, control, cons_id, consumer_secret, user_key, max_skew_seconds, clock)
    app = web.Application()
    control.install(app)
    for base in BASE_PATHS:
        app.router.add_get(base + "/Peserta/nik/{nik}/tglSEP/{date}", service.by_nik)
        app.router.add_get(base + "/Peserta/nokartu/{card}/tglSEP/{date}", service.by_card)
        app.router.add_post(base + "/_mock/echo", service.echo)
    # Last, so that it only catches what nothing else does: the gateway's HTML page, for any method.
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


async def _not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text=_NOT_FOUND_HTML, content_type="text/html")


class _VClaim:
    def __init__(
        self,
        population: Population,
        control: Control,
        cons_id: str,
        consumer_secret: str,
        user_key: str,
        max_skew_seconds: int,
        clock: Callable[[], float],
    ) -> None:
        self._population = population
        self._control = control
        self._cons_id = cons_id
        self._secret = consumer_secret
        self._user_key = user_key
        self._skew = max_skew_seconds
        self._clock = clock
        self._by_card = {citizen.no_kartu: citizen for citizen in population}
        self._heads = {c.kk: c for c in population if c.family_relation == "KEPALA KELUARGA"}

    async def by_nik(self, request: web.Request) -> web.Response:
        self._control.record_delivery("Peserta/nik")
        timestamp, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        nik = request.match_info["nik"]
        if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
            return _failure("201", MESSAGES["201-nik"])
        return self._answer(self._population.get(nik), request.match_info["date"], timestamp)

    async def by_card(self, request: web.Request) -> web.Response:
        self._control.record_delivery("Peserta/nokartu")
        timestamp, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        card = request.match_info["card"]
        if len(card) != 13 or not card.isascii() or not card.isdigit():
            return _failure("201", MESSAGES["201-card"])
        return self._answer(self._by_card.get(card), request.match_info["date"], timestamp)

    async def echo(self, request: web.Request) -> web.Response:
        self._control.record_delivery("_mock/echo")
        timestamp, refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        try:
            body = await read_json_body(request)
        except ValueError:
            return _failure("201", MESSAGES["201-body"])
        return self._success(body, timestamp)

    def _authenticate(self, request: web.Request) -> tuple[str, web.Response | None]:
        """The caller's ``X-timestamp``, or the refusal to send instead. Header names are case-insensitive."""
        headers = request.headers
        cons_id, timestamp, given = (headers.get(name, "") for name in ("X-cons-id", "X-timestamp", "X-signature"))
        if not (cons_id and timestamp and given):
            return "", _failure("401", MESSAGES["401-headers"])
        if not (timestamp.isascii() and timestamp.isdigit()) or not _same(cons_id, self._cons_id):
            return "", _failure("401", MESSAGES["401"])
        # The signature is checked before the clock: a forger learns nothing about the allowed window.
        if not _same(given, signature(self._cons_id, self._secret, timestamp)):
            return "", _failure("401", MESSAGES["401"])
        if abs(self._clock() - int(timestamp)) > self._skew:
            return "", _failure("408", MESSAGES["408"])
        if not _same(headers.get("user_key", ""), self._user_key):
            return "", _failure("403", MESSAGES["403"])
        return timestamp, None

    def _answer(self, citizen: Citizen | None, raw_date: str, timestamp: str) -> web.Response:
        service_date = _service_date(raw_date)
        if service_date is None:
            return _failure("201", MESSAGES["201-date"])
        if citizen is None:
            return _failure("201", MESSAGES["201-not-found"])
        today = datetime.fromtimestamp(self._clock(), UTC).astimezone(_WIB).date()
        record = peserta(citizen, service_date, today=today, head=self._heads.get(citizen.kk))
        return self._success({"peserta": record}, timestamp)

    def _success(self, document: object, timestamp: str) -> web.Response:
        encrypted = encrypt_response(
            orjson.dumps(document).decode(), cons_id=self._cons_id, consumer_secret=self._secret, timestamp=timestamp
        )
        return json_response({"metaData": {"code": "200", "message": MESSAGES["200"]}, "response": encrypted})


def _failure(code: str, message: str) -> web.Response:
    return json_response({"metaData": {"code": code, "message": message}, "response": None})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _service_date(raw: str) -> date | None:
    if not _DATE.match(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _build(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {
        "cons_id": str(10_000 + secrets.randbelow(90_000)),  # BPJS issues numeric consumer ids
        "consumer_secret": secrets.token_urlsafe(12),
        "user_key": secrets.token_hex(16),
    }
    app = create_app(
        population,
        cons_id=settings["cons_id"],
        consumer_secret=settings["consumer_secret"],
        user_key=settings["user_key"],
        control=control,
    )
    return app, settings


MOCK = MockSpec(_build, default_port=8102, base_path="/vclaim-rest")
"""The runner's entry (``mpp_gateway.mocks``): fresh consumer credentials per cluster, VClaim on port 8102."""
