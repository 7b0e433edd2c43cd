"""OSS RBA's push to the region, hosted by the gateway: ``POST /oss/receiveNIB``, and a read route for counters.

OSS calls the region's ``receiveNIB`` with ``{"dataNIB": {...}}`` whenever an NIB with a permit for the region is
issued or changed (AGENCIES.md, section 4). It authenticates with one header, ``Token: sha1(USERNAME + PASSWORD +
NIB + Ymd)`` in lower-case hex, the date in Jakarta time (WIB, UTC+7); the day before and after are accepted for
clock skew around midnight. The username and password are the region's, agreed with OSS, and come from
``MPP_AGENCY__OSS__INBOUND_USERNAME`` and ``..._INBOUND_PASSWORD``; without them the route refuses everything.

The route speaks OSS's protocol, not ours: every answer the handler gives is HTTP 200 with
``{"responreceiveNIB": {"status": "1" | "2", "keterangan": ...}}`` (1 stored, 2 refused), because that envelope is
what OSS reads. Errors before the handler (wrong method, internal failure) are problem+json like everywhere else.
OSS has no API key: a middleware in front of the gateway's bearer check marks exactly this path as OSS's, and the
handler checks the Token itself.

The data is stored durably, one row per NIB, the latest push winning (migration ``0002_oss_nib``), and counter
apps granted the service id ``oss.nib.received`` read it at ``GET /v1/oss/nib/{nib}``. It holds personal data
(responsible persons, shareholders), so the grant is the access control, and nothing of it is logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from contracts import FieldError

from ..config import Settings
from ..problems import ApiProblem
from ..security import Client
from ..store import ReceivedNib, Store, StoreError
from ._edge import CLIENT, client_of

__all__ = [
    "JAKARTA",
    "READ_PATH",
    "READ_SERVICE",
    "RECEIVE_PATH",
    "NibInbox",
    "ReceivedNib",
    "mount_oss_inbound",
    "openapi_paths",
    "oss_token",
    "token_valid",
]

log = structlog.get_logger("gateway.oss")

RECEIVE_PATH = "/oss/receiveNIB"
READ_PATH = "/v1/oss/nib/{nib}"
READ_SERVICE = "oss.nib.received"
JAKARTA = dt.timezone(dt.timedelta(hours=7), "WIB")
#: A dataNIB may carry base64 photos (RPTKA) and long project lists: larger than the API's own body limit.
MAX_BODY = 4 * 1024 * 1024

_NIB = re.compile(r"^[0-9]{13}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
# OSS has no API key; this identity is granted nothing, it only tells the bearer check that the Token rules here.
_OSS_CALLER = Client(id="oss-receive-nib", name="OSS RBA receiveNIB (Token)", key_hashes=frozenset(), services=())


def oss_token(username: str, password: str, nib: str, day: dt.date) -> str:
    """The ``Token`` OSS sends for ``nib`` on ``day``: ``sha1(username + password + nib + Ymd)``, lower-case hex."""
    message = f"{username}{password}{nib}{day:%Y%m%d}".encode()
    return hashlib.sha1(message).hexdigest()  # noqa: S324 - OSS's protocol fixes SHA-1 for this Token; not our choice


def token_valid(token: str, *, username: str, password: str, nib: str, now: dt.datetime) -> bool:
    """Whether ``token`` is OSS's for ``nib`` today, yesterday or tomorrow in Jakarta (``now`` must be aware)."""
    presented = token.strip().lower()
    if not _HEX40.match(presented):
        return False
    today = now.astimezone(JAKARTA).date()
    days = (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1))
    # Every candidate is compared, constant-time, so the answer's timing says nothing about which day matched.
    matches = [hmac.compare_digest(presented, oss_token(username, password, nib, day)) for day in days]
    return any(matches)


class NibInbox:
    """The ``oss_nib`` table, through the store's own methods (SQLite's batching writer, PostgreSQL's pool)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def save(self, data: dict[str, Any], now: dt.datetime) -> None:
        """Insert the push, or replace the NIB's earlier one (keeping when it first arrived and counting pushes)."""
        await self._store.save_nib(
            str(data["nib"]),
            oss_id=_text(data.get("oss_id")),
            company_name=_text(data.get("nama_perseroan")),
            data=data,
            received_at=now,
        )

    async def get(self, nib: str) -> ReceivedNib | None:
        """The NIB's latest push, or ``None``."""
        return await self._store.get_nib(nib)


@dataclasses.dataclass(frozen=True)
class _Inbound:
    credentials: tuple[str, str] | None
    inbox: NibInbox | None
    clock: Callable[[], dt.datetime]


_INBOUND: web.AppKey[_Inbound] = web.AppKey("oss_inbound", _Inbound)


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _reply(accepted: bool, keterangan: str) -> web.Response:
    body = {"responreceiveNIB": {"status": "1" if accepted else "2", "keterangan": keterangan}}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _refuse(reason: str, keterangan: str, nib: str | None = None) -> web.Response:
    log.warning("oss.receive_nib.refused", reason=reason, nib=nib)
    return _reply(False, keterangan)


async def _read_capped(request: web.Request) -> bytes | None:
    """The body, or ``None`` past :data:`MAX_BODY` (read here: the app's ``client_max_size`` is for the API)."""
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


async def receive_nib(request: web.Request) -> web.Response:
    """``POST /oss/receiveNIB``: check OSS's Token, store the NIB's data, answer in OSS's envelope."""
    inbound = request.app[_INBOUND]
    if inbound.credentials is None or inbound.inbox is None:
        return _refuse("not-configured", "Layanan receiveNIB belum dikonfigurasi")
    raw = await _read_capped(request)
    if raw is None:
        return _refuse("body-too-large", "Ukuran data melebihi batas")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _refuse("malformed-json", "Format data tidak valid")
    data = document.get("dataNIB") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        return _refuse("no-dataNIB", "Parameter dataNIB tidak ditemukan")
    nib = data.get("nib")
    if not isinstance(nib, str) or not _NIB.match(nib):
        return _refuse("invalid-nib", "Parameter nib tidak valid")
    username, password = inbound.credentials
    now = inbound.clock()
    if not token_valid(request.headers.get("Token", ""), username=username, password=password, nib=nib, now=now):
        return _refuse("invalid-token", "Token tidak valid", nib)
    try:
        await inbound.inbox.save(data, now)
    except StoreError:
        log.exception("oss.receive_nib.store_failed", nib=nib)
        return _reply(False, "Gagal menyimpan data")
    log.info("oss.receive_nib.stored", nib=nib)
    return _reply(True, "Berhasil menyimpan data")


async def read_nib(request: web.Request) -> web.Response:
    """``GET /v1/oss/nib/{nib}``: the latest data OSS pushed for the NIB, to clients granted ``oss.nib.received``."""
    if not client_of(request).may_use(READ_SERVICE):
        raise ApiProblem("forbidden", f"this client is not granted {READ_SERVICE}")
    nib = request.match_info["nib"]
    if not _NIB.match(nib):
        raise ApiProblem(
            "validation-error", "the NIB must be 13 digits", errors=[FieldError(field="nib", message="13 digits")]
        )
    inbox = request.app[_INBOUND].inbox
    if inbox is None:
        raise ApiProblem("not-ready", "this gateway's store does not keep OSS NIB data")
    found = await inbox.get(nib)
    if found is None:
        raise ApiProblem("not-found", "OSS has pushed no data for this NIB")
    return web.Response(body=orjson.dumps(found.as_json()), content_type="application/json")


@web.middleware
async def _oss_caller(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == RECEIVE_PATH:
        request[CLIENT] = _OSS_CALLER
    return await handler(request)


def mount_oss_inbound(
    app: web.Application,
    *,
    settings: Settings,
    store: Store,
    clock: Callable[[], dt.datetime] | None = None,
) -> None:
    """Add the receiveNIB and read routes to ``app``, and OSS's caller marking in front of its middlewares.

    Call before the app starts. Routes are always added (the OpenAPI document describes them): without inbound
    credentials receiveNIB refuses every push, and with a store that keeps no NIB data both routes say so.
    """
    values = settings.agencies["oss"].adapter_settings if "oss" in settings.agencies else {}
    username, password = values.get("inbound_username", ""), values.get("inbound_password", "")
    app[_INBOUND] = _Inbound(
        credentials=(username, password) if username and password else None,
        # A store written against the port before it kept NIB data (a test double, say) has no save_nib.
        inbox=NibInbox(store) if callable(getattr(store, "save_nib", None)) else None,
        clock=clock or (lambda: dt.datetime.now(dt.UTC)),
    )
    app.middlewares.insert(0, _oss_caller)
    app.add_routes([web.post(RECEIVE_PATH, receive_nib), web.get(READ_PATH, read_nib)])


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of both routes, for :func:`gateway.build_openapi`."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}

    def errors(texts: dict[int, str]) -> dict[str, Any]:
        return {str(code): {"description": text, "content": problem} for code, text in texts.items()}

    reply = {
        "type": "object",
        "required": ["responreceiveNIB"],
        "properties": {
            "responreceiveNIB": {
                "type": "object",
                "required": ["status", "keterangan"],
                "properties": {"status": {"type": "string", "enum": ["1", "2"]}, "keterangan": {"type": "string"}},
            }
        },
    }
    data_nib = {
        "type": "object",
        "required": ["dataNIB"],
        "properties": {
            "dataNIB": {
                "type": "object",
                "required": ["nib"],
                "properties": {"nib": {"type": "string", "pattern": "^[0-9]{13}$"}},
                "additionalProperties": True,
            }
        },
    }
    stored = {
        "type": "object",
        "required": ["nib", "received_at", "first_received_at", "pushes", "data"],
        "properties": {
            "nib": {"type": "string"},
            "oss_id": {"type": ["string", "null"]},
            "company_name": {"type": ["string", "null"]},
            "first_received_at": {"type": "string", "format": "date-time"},
            "received_at": {"type": "string", "format": "date-time"},
            "pushes": {"type": "integer"},
            "data": {"type": "object", "description": "dataNIB as OSS sent it (personal data)."},
        },
    }
    return {
        RECEIVE_PATH: {
            "post": {
                "operationId": "ossReceiveNib",
                "summary": "OSS RBA pushes an NIB's data to the region (receiveNIB)",
                "description": (
                    "Called by OSS, not by counter apps. Authenticated by the Token header, sha1(username + "
                    "password + NIB + Ymd) in lower-case hex, Jakarta date, the day before and after accepted. "
                    "Answers HTTP 200 with status 1 (stored) or 2 (refused) in OSS's envelope."
                ),
                "tags": ["oss"],
                "security": [],
                "parameters": [
                    {"name": "Token", "in": "header", "required": True, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": data_nib}}},
                "responses": {
                    "200": {
                        "description": "Stored (1) or refused (2).",
                        "content": {"application/json": {"schema": reply}},
                    },
                    **errors({500: "Unexpected error (identified by trace_id)."}),
                },
            }
        },
        READ_PATH: {
            "get": {
                "operationId": "ossReceivedNib",
                "summary": "The latest NIB data OSS pushed for this NIB (needs the grant oss.nib.received)",
                "tags": ["oss"],
                "parameters": [{"name": "nib", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The stored push.", "content": {"application/json": {"schema": stored}}},
                    **errors(
                        {
                            401: "Missing or unknown API key.",
                            403: "The client is not granted oss.nib.received.",
                            404: "OSS has pushed nothing for this NIB.",
                            422: "The NIB is not 13 digits.",
                            429: "This client's request rate is exceeded; see Retry-After.",
                            500: "Unexpected error (identified by trace_id).",
                            503: "The store does not keep OSS data.",
                        }
                    ),
                },
            }
        },
    }
