"""OSS RBA's push to the region, ``receiveNIB``, and the counters' read of what arrived: the adapter's inbound routes.

OSS calls the region's ``receiveNIB`` with ``{"dataNIB": {...}}`` whenever an NIB with a permit for the region is
issued or changed (docs/agencies.md, section 4, "Methods the region serves"). It authenticates with one header,
``Token: sha1(USERNAME + PASSWORD + NIB + Ymd)`` in lower-case hex, the date in Jakarta time (WIB, UTC+7); the
day before and after are accepted for clock skew around midnight. The username and password are the region's,
agreed with OSS, and come from ``MPP_AGENCY__OSS__INBOUND_USERNAME`` and ``..._INBOUND_PASSWORD``; without them
the route refuses everything.

``MPP_AGENCY__OSS__INBOUND_ALLOW`` (optional) narrows who may push at all: a comma-separated list of addresses or
CIDR networks (``203.0.113.0/24,2001:db8::/32``; a bare address is one host). A push from any other address is
refused before its body is read, with OSS's refusal (status 2), and never reaches the Token check. The address is
the connection's peer as the socket reports it (:attr:`~adapters.InboundRequest.peer`): the gateway believes no
``X-Forwarded-For``, so behind a reverse proxy the list must name the proxy, and the proxy must restrict who reaches
the route. Unset or empty, every address may try (the Token still decides). A list with an entry that is neither
an address nor a network fails closed: the adapter logs ``oss.inbound_allow.invalid`` (an error naming the setting)
when it is built, and ``receiveNIB`` refuses every push until the setting is fixed; the adapter still starts, so
that the gateway's other routes, and the tools that build adapters only to describe them, keep working.

The route speaks OSS's protocol, not ours: every answer is HTTP 200 with
``{"responreceiveNIB": {"status": "1" | "2", "keterangan": ...}}`` (1 stored, 2 refused), because that envelope is
what OSS reads, a body over :data:`MAX_BODY` included. The gateway mounts it at ``POST /oss/receiveNIB`` and asks
for no API key: the handler checks the Token.

Each push is kept in the adapter's documents as kind ``nib``, keyed by the NIB, as history; counter apps granted the
service id ``oss.nib.received`` read the latest at ``GET /v1/oss/nib/{nib}``, with when the NIB first and last
arrived and how many pushes are kept (those within the retention period). The data holds personal data (responsible
persons, shareholders), so the grant is the access control, and nothing of it is logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import structlog

from adapters import AgencyDocuments, InboundRequest, InboundResponse, InboundRoute, ReceivedDocument

from .mapping import JAKARTA

__all__ = [
    "JAKARTA",
    "KIND",
    "MAX_BODY",
    "READ_GRANT",
    "Network",
    "NibInbound",
    "inbound_allowlist",
    "inbound_credentials",
    "oss_token",
    "parse_allowlist",
    "token_valid",
]

log = structlog.get_logger("adapters.oss")

#: The documents' kind of a dataNIB push.
KIND = "nib"
#: The service id a client must be granted to read the pushes.
READ_GRANT = "oss.nib.received"
#: A dataNIB may carry base64 photos (RPTKA) and long project lists: larger than the API's own body limit.
MAX_BODY = 4 * 1024 * 1024

_NIB = re.compile(r"^[0-9]{13}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


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


def inbound_credentials(settings: Mapping[str, str]) -> tuple[str, str] | None:
    """The region's receiveNIB username and password from the adapter's settings; ``None`` unless both are set."""
    username, password = settings.get("inbound_username", ""), settings.get("inbound_password", "")
    return (username, password) if username and password else None


def parse_allowlist(raw: str) -> tuple[Network, ...] | None:
    """The networks in ``raw`` (``cidr,cidr``; a bare address is one host, host bits dropped); ``None`` if blank.

    Raises :class:`ValueError` naming the setting and the first entry that is neither an address nor a network.
    """
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if not entries:
        return None
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"MPP_AGENCY__OSS__INBOUND_ALLOW: {entry[:60]!r} is neither an IP address nor a CIDR network"
            ) from None
    return tuple(networks)


def inbound_allowlist(settings: Mapping[str, str]) -> tuple[Network, ...] | None:
    """The networks the ``inbound_allow`` setting names; ``None`` when unset (any address may try).

    A setting that does not parse fails closed: an error is logged and the empty list (no address) is returned.
    """
    try:
        return parse_allowlist(settings.get("inbound_allow", ""))
    except ValueError as exc:
        log.error("oss.inbound_allow.invalid", detail=str(exc), effect="receiveNIB refuses every push")
        return ()


def _allowed(peer: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether ``peer`` lies in one of ``networks``; an unknown or unparsable peer never does."""
    try:
        address = ipaddress.ip_address((peer or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client on a dual-stack socket
    return any(address in network for network in networks)


def _peer_network(peer: str | None) -> str | None:
    """The peer's /24 (IPv4) or /48 (IPv6) for the log: enough to tell where refusals come from, not who."""
    try:
        address = ipaddress.ip_address((peer or "").split("%", 1)[0])
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _reply(accepted: bool, keterangan: str) -> InboundResponse:
    return InboundResponse.json({"responreceiveNIB": {"status": "1" if accepted else "2", "keterangan": keterangan}})


def _refuse(reason: str, keterangan: str, nib: str | None = None, **fields: object) -> InboundResponse:
    log.warning("oss.receive_nib.refused", reason=reason, nib=nib, **fields)
    return dataclasses.replace(_reply(False, keterangan), refusal=reason)


def _stored(nib: str, history: list[ReceivedDocument]) -> dict[str, Any]:
    """The read route's body: the latest push, with the first and last arrival and the number of pushes kept."""
    data = history[-1].document
    return {
        "nib": nib,
        "oss_id": _text(data.get("oss_id")),
        "company_name": _text(data.get("nama_perseroan")),
        "first_received_at": history[0].received_at.isoformat(),
        "received_at": history[-1].received_at.isoformat(),
        "pushes": len(history),
        "data": data,
    }


class NibInbound:
    """The two routes over the adapter's documents: ``receiveNIB`` for OSS, the NIB read for counters."""

    def __init__(
        self,
        documents: AgencyDocuments | None,
        *,
        credentials: tuple[str, str] | None,
        clock: Callable[[], dt.datetime],
        allow: tuple[Network, ...] | None = None,
    ) -> None:
        """Without ``credentials`` every push is refused; without ``documents`` pushes are refused and reads say
        the gateway keeps no OSS data. With ``allow``, a push from a peer outside those networks is refused."""
        self._documents = documents
        self._credentials = credentials
        self._clock = clock
        self._allow = allow

    def __repr__(self) -> str:  # the credentials never show
        return (
            f"NibInbound(configured={self._credentials is not None}, documents={self._documents is not None}, "
            f"allow={[str(network) for network in self._allow] if self._allow is not None else None})"
        )

    async def receive(self, request: InboundRequest) -> InboundResponse:
        """``POST /oss/receiveNIB``: check the caller's address and OSS's Token, keep the NIB's data, answer in OSS's
        envelope."""
        if self._allow is not None and not _allowed(request.peer, self._allow):
            return _refuse(
                "address-not-allowed", "Alamat pengirim tidak diizinkan", peer_network=_peer_network(request.peer)
            )
        if self._credentials is None or self._documents is None:
            return _refuse("not-configured", "Layanan receiveNIB belum dikonfigurasi")
        try:
            document = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _refuse("malformed-json", "Format data tidak valid")
        data = document.get("dataNIB") if isinstance(document, dict) else None
        if not isinstance(data, dict):
            return _refuse("no-dataNIB", "Parameter dataNIB tidak ditemukan")
        nib = data.get("nib")
        if not isinstance(nib, str) or not _NIB.match(nib):
            return _refuse("invalid-nib", "Parameter nib tidak valid")
        username, password = self._credentials
        now = self._clock()
        token = request.headers.get("token", "")
        if not token_valid(token, username=username, password=password, nib=nib, now=now):
            return _refuse("invalid-token", "Token tidak valid", nib)
        try:
            await self._documents.put(KIND, nib, data, received_at=now)
        except Exception:  # whatever the store raised, OSS must hear "refused" so that it sends again
            log.exception("oss.receive_nib.store_failed", nib=nib)
            return dataclasses.replace(_reply(False, "Gagal menyimpan data"), refusal="store-failed")
        log.info("oss.receive_nib.stored", nib=nib)
        return _reply(True, "Berhasil menyimpan data")

    async def read(self, request: InboundRequest) -> InboundResponse:
        """``GET /v1/oss/nib/{nib}``: the latest data OSS pushed for the NIB (the gateway checked the grant)."""
        nib = request.path_params.get("nib", "")
        if not _NIB.match(nib):
            return InboundResponse.problem(
                "validation-error", "the NIB must be 13 digits", status=422, errors={"nib": "13 digits"}
            )
        if self._documents is None:
            return InboundResponse.problem("not-ready", "this gateway's store does not keep OSS NIB data", status=503)
        history = await self._documents.history(KIND, nib)
        if not history:
            return InboundResponse.problem("not-found", "OSS has pushed no data for this NIB", status=404)
        return InboundResponse.json(_stored(nib, history))

    def routes(self, *, max_body: int = MAX_BODY) -> tuple[InboundRoute, InboundRoute]:
        """``POST /receiveNIB`` for OSS (``/oss/receiveNIB``) and ``GET /nib/{nib}`` for counters
        (``/v1/oss/nib/{nib}``), described for the API document."""
        receive = InboundRoute(
            "POST",
            "/receiveNIB",
            self.receive,
            "agency",
            summary="OSS RBA pushes an NIB's data to the region (receiveNIB)",
            description=(
                "Called by OSS, not by counter apps. Authenticated by the Token header, sha1(username + password + "
                "NIB + Ymd) in lower-case hex, Jakarta date, the day before and after accepted. Answers HTTP 200 "
                "with status 1 (stored) or 2 (refused) in OSS's envelope."
            ),
            max_body=max_body,
            too_large=_reply(False, "Ukuran data melebihi batas"),
            request_schema=_DATA_NIB,
            response_schema=_REPLY,
            request_headers={"Token": "sha1(username + password + NIB + Ymd), lower-case hex"},
        )
        read = InboundRoute(
            "GET",
            "/nib/{nib}",
            self.read,
            "client",
            grant=READ_GRANT,
            summary=f"The latest NIB data OSS pushed for this NIB (needs the grant {READ_GRANT})",
            response_schema=_STORED,
            problems={
                404: "OSS has pushed nothing for this NIB.",
                422: "The NIB is not 13 digits.",
                503: "The store does not keep OSS data.",
            },
        )
        return receive, read


_REPLY: Mapping[str, Any] = {
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
_DATA_NIB: Mapping[str, Any] = {
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
_STORED: Mapping[str, Any] = {
    "type": "object",
    "required": ["nib", "received_at", "first_received_at", "pushes", "data"],
    "properties": {
        "nib": {"type": "string"},
        "oss_id": {"type": ["string", "null"]},
        "company_name": {"type": ["string", "null"]},
        "first_received_at": {"type": "string", "format": "date-time"},
        "received_at": {"type": "string", "format": "date-time"},
        "pushes": {"type": "integer", "description": "Pushes kept (those within the retention period)."},
        "data": {"type": "object", "description": "dataNIB as OSS sent it last (personal data)."},
    },
}
