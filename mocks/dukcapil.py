"""Dukcapil mock: ``POST /dukcapil/get_json/{institution}/{METHOD}`` as the population service answers it.

The real service sits on a private government network, so an adapter is written against this mock long before
it meets production; the mock therefore copies the service's habits, quirks included (see docs/agencies.md, section
3): credentials travel in the JSON body with any key casing, the method name is case-insensitive, and every
answer, failure or not, is an HTTP 200 page envelope whose ``content[0]`` carries the outcome. Only transport
problems use other statuses: an unknown method meets the front proxy's HTML 404, a body that is not JSON a 400.

What is modelled rather than known is marked where it happens. Data keys (``NIK``, ``NAMA_LGKP``, ...) are read
upper case only, as every known client sends them, so an adapter that sends ``nik`` fails here as it would
risk failing there. Location numbers are compared as Dukcapil returns them (component numbers: ``NO_KAB`` "73",
not "3273"), and ``TGL_LHR`` must be ``dd-mm-yyyy``.
"""

from __future__ import annotations

import difflib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from contracts import check_nik

from ._control import Control, json_response
from ._population import Citizen, Population
from ._registry import MockSpec

__all__ = ["FUZZY_FIELDS", "MOCK", "RESPONSES", "VERIFY_FIELDS", "create_app", "record", "similarity"]

RESPONSES: dict[str, str] = {
    "03": "Login gagal, user id atau password salah",
    "04": "IP user tidak sesuai dengan IP yang terdaftar",
    "05": "Kuota akses hari ini telah habis",
    "07": "Parameter permintaan tidak lengkap",
    "09": "User id, password dan IP user tidak boleh kosong",
    "11": "Data Ditemukan, Status Meninggal Dunia",
    "12": "Data Ditemukan, NIK Duplikat",
    "13": "Data Tidak Ditemukan, NIK tidak terdaftar dalam database kependudukan",
    "14": "Data Ditemukan, Status Tidak Aktif, silakan hubungi Dinas Dukcapil setempat",
    "15": "Data Tidak Ditemukan, NIK tidak sesuai format Dukcapil",
    "16": "Lembaga tidak aktif",
}
"""Failure codes this mock produces, with its Indonesian wording (the codes are the service's, the text ours)."""

VERIFY_FIELDS: tuple[str, ...] = (
    "NO_KK", "NAMA_LGKP", "TMPT_LHR", "TGL_LHR", "JENIS_KLMIN", "STATUS_KAWIN", "JENIS_PKRJN", "NAMA_LGKP_IBU",
    "ALAMAT", "NO_RT", "NO_RW", "NO_PROP", "PROP_NAME", "NO_KAB", "KAB_NAME", "NO_KEC", "KEC_NAME", "NO_KEL",
    "KEL_NAME",
)
"""The fields ``CALL_VERIFY_BY_ELEMEN`` can check besides the NIK."""

FUZZY_FIELDS = frozenset({"NAMA_LGKP", "TMPT_LHR", "NAMA_LGKP_IBU", "ALAMAT", "PROP_NAME", "KAB_NAME", "KEC_NAME",
                          "KEL_NAME"})
"""Fields judged by similarity and answered with a score; the rest are answered bare."""

_NUMBER_FIELDS = frozenset({"NO_RT", "NO_RW", "NO_PROP", "NO_KAB", "NO_KEC", "NO_KEL"})
_DEFAULT_THRESHOLD = 80
_PATH = "/dukcapil/get_json/{institution}/{method}"

_NOT_FOUND_HTML = """<html>
<head><title>404 Not Found</title></head>
<body>
<center><h1>404 Not Found</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""


def similarity(submitted: str, held: str) -> int:
    """Similarity 0-100, case- and whitespace-insensitive; 100 only for equal text (the score is floored)."""
    a, b = _normalise(submitted), _normalise(held)
    if a == b:
        return 100
    return int(difflib.SequenceMatcher(None, a, b).ratio() * 100)


def record(citizen: Citizen) -> dict[str, str]:
    """The ``CALL_NIK`` record of a citizen, in wire form: upper-case keys, numbers as strings, dd-mm-yyyy."""
    return {
        "NIK": citizen.nik,
        "NO_KK": citizen.kk,
        "NAMA_LGKP": citizen.full_name,
        "TMPT_LHR": citizen.birth_place,
        "TGL_LHR": f"{citizen.birth_date:%d-%m-%Y}",
        "JENIS_KLMIN": citizen.sex,
        "AGAMA": citizen.religion,
        "STATUS_KAWIN": citizen.marital_status,
        "GOL_DARAH": citizen.blood_type,
        "PDDK_AKH": citizen.education,
        "JENIS_PKRJN": citizen.occupation,
        "ALAMAT": citizen.address,
        # The population database keeps these as numbers: leading zeros do not survive ("003" -> "3").
        "NO_RT": str(int(citizen.rt)),
        "NO_RW": str(int(citizen.rw)),
        "NO_PROP": str(int(citizen.province_code)),
        "PROP_NAME": citizen.province_name,
        "NO_KAB": str(int(citizen.regency_code[2:])),
        "KAB_NAME": citizen.regency_name,
        "NO_KEC": str(int(citizen.district_code[4:])),
        "KEC_NAME": citizen.district_name,
        "NO_KEL": str(int(citizen.village_code[6:])),
        "KEL_NAME": citizen.village_name,
        "NAMA_LGKP_IBU": citizen.mother_name,
        "NAMA_LGKP_AYAH": citizen.father_name,
        "STAT_HBKEL": citizen.family_relation,
    }


def create_app(
    population: Population,
    *,
    institution: str,
    user_id: str,
    password: str,
    ip_user: str,
    quota: int = 100_000,
    control: Control | None = None,
) -> web.Application:
    """The Dukcapil mock app for one institution's credentials, with its ``/_control/`` routes mounted."""
    if quota < 0:
        raise ValueError("quota must not be negative")
    if control is None:
        control = Control("dukcapil", population)
    elif control.population is not population:
        raise ValueError("control must watch the same population the mock serves")
    service = _Dukcapil(population, control, institution, user_id, password, ip_user, quota)
    app = web.Application()
    control.install(app)
    app.router.add_post(_PATH, service.handle)
    return app


class _Dukcapil:
    def __init__(
        self,
        population: Population,
        control: Control,
        institution: str,
        user_id: str,
        password: str,
        ip_user: str,
        quota: int,
    ) -> None:
        self._population = population
        self._control = control
        self._institution = institution
        self._credentials = (user_id, password)
        self._ip_user = ip_user
        self._quota = quota
        self._remaining = quota
        self._methods: Mapping[str, Callable[[dict[str, Any]], web.Response]] = {
            "CALL_VERIFY_BY_ELEMEN": self._verify,
            "CALL_NIK": self._call_nik,
        }
        control.on_reset(self._restore_quota)
        control.on_quota(self._set_quota)

    def _set_quota(self, remaining: int) -> None:
        self._remaining = remaining

    def _restore_quota(self) -> None:
        # The real quota refills daily; a control reset stands in for the new day.
        self._remaining = self._quota

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].upper()
        answer = self._methods.get(method)
        if answer is None:
            return web.Response(status=404, text=_NOT_FOUND_HTML, content_type="text/html")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return json_response({"message": "Request body is not valid JSON"}, status=400)
        if not isinstance(body, dict):
            return json_response({"message": "Request body must be a JSON object"}, status=400)
        # Every call the service read counts, refused ones included: each reached the agency and its logs.
        self._control.record_delivery(method)
        lowered = {key.lower(): value for key, value in body.items()}
        user_id, password, ip_user = (_text(lowered.get(key)) for key in ("user_id", "password", "ip_user"))
        if not (user_id and password and ip_user):
            return self._failure("09")
        if request.match_info["institution"] != self._institution:
            return self._failure("16")
        if not (_same(user_id, self._credentials[0]) and _same(password, self._credentials[1])):
            return self._failure("03")
        if ip_user != self._ip_user:
            return self._failure("04")
        if self._remaining <= 0:
            return self._failure("05")
        self._remaining -= 1
        return answer(body)

    def _verify(self, body: dict[str, Any]) -> web.Response:
        nik = _text(body.get("NIK"))
        # An empty value counts as not submitted (modelled: clients often send every key, most of them blank).
        submitted = {key: value for key in VERIFY_FIELDS if (value := _text(body.get(key)))}
        threshold = _threshold(body.get("TRESHOLD"))
        if not nik or not submitted or threshold is None:
            return self._failure("07")
        citizen, failure = self._find(nik)
        if citizen is None:
            return failure or self._failure("13")
        held = record(citizen)
        row = {"NIK": "Sesuai"}
        for key, value in submitted.items():
            if key in FUZZY_FIELDS:
                score = similarity(value, held[key])
                row[key] = f"Sesuai ({score})" if score >= threshold else "Tidak Sesuai"
            else:
                row[key] = "Sesuai" if _exact_match(key, value, held[key]) else "Tidak Sesuai"
        return self._envelope([self._flag_duplicate(citizen, row)])

    def _call_nik(self, body: dict[str, Any]) -> web.Response:
        nik = _text(body.get("NIK"))
        if not nik:
            return self._failure("07")
        citizen, failure = self._find(nik)
        if citizen is None:
            return failure or self._envelope([{"RESPON": "Data Tidak Ditemukan"}])
        return self._envelope([self._flag_duplicate(citizen, record(citizen))])

    def _find(self, nik: str) -> tuple[Citizen | None, web.Response | None]:
        """The living, active citizen; otherwise ``None`` and the failure to send (``None`` for not found)."""
        try:
            check_nik(nik)
        except ValueError:
            return None, self._failure("15")
        citizen = self._population.get(nik)
        if citizen is None:
            return None, None
        if citizen.status == "deceased":
            return None, self._failure("11")
        if citizen.status == "inactive":
            return None, self._failure("14")
        return citizen, None

    @staticmethod
    def _flag_duplicate(citizen: Citizen, row: dict[str, str]) -> dict[str, str]:
        # Modelled: the duplicate flag rides along with the data (code 12 is a success that must be flagged),
        # since no public client shows where the real service puts it.
        if citizen.duplicate:
            row |= {"RESPONSE_CODE": "12", "RESPONSE": RESPONSES["12"]}
        return row

    def _failure(self, code: str) -> web.Response:
        return self._envelope([{"RESPONSE_CODE": code, "RESPONSE": RESPONSES[code]}])

    def _envelope(self, content: list[dict[str, str]]) -> web.Response:
        count = len(content)
        return json_response({
            "content": content,
            "lastPage": True,
            "numberOfElements": count,
            "totalElements": count,
            "firstPage": True,
            "number": 0,
            "size": count,
            "sort": None,
            "quotaLimiter": self._remaining,
        })


def _text(value: object) -> str:
    """A body value as trimmed text; numbers are accepted as clients send NIKs and RT numbers either way."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _normalise(value: str) -> str:
    return " ".join(value.upper().split())


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _threshold(value: object) -> int | None:
    """``TRESHOLD`` as 0-100: 80 when absent or blank, ``None`` when unusable (answered with 07)."""
    if value is None or value == "":
        return _DEFAULT_THRESHOLD
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _text(value)
    if not text.isdigit() or int(text) > 100:
        return None
    return int(text)


def _exact_match(key: str, submitted: str, held: str) -> bool:
    if key in _NUMBER_FIELDS:
        return submitted.isdigit() and int(submitted) == int(held)
    if key == "TGL_LHR":
        try:
            return datetime.strptime(submitted, "%d-%m-%Y").date() == datetime.strptime(held, "%d-%m-%Y").date()
        except ValueError:
            return False
    return _normalise(submitted) == _normalise(held)


def _build(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {
        "institution": f"mpp{secrets.token_hex(4)}",
        "user_id": f"mpp_{secrets.token_hex(4)}",
        "password": secrets.token_urlsafe(18),
        # The VPN address the institution registered; Dukcapil checks the one the body claims against it.
        "ip_user": f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}",
    }
    app = create_app(
        population,
        institution=settings["institution"],
        user_id=settings["user_id"],
        password=settings["password"],
        ip_user=settings["ip_user"],
        control=control,
    )
    return app, settings


MOCK = MockSpec(_build, default_port=8101)
"""The runner's entry (``mpp_gateway.mocks``): fresh institution credentials per cluster, on port 8101."""
