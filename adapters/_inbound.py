"""Inbound routes: HTTP endpoints an adapter declares and the gateway mounts, for agencies that push to the region.

Most agencies only answer; some also call the region. OSS RBA delivers every new or changed NIB to the region's
``receiveNIB``, and a counter app later reads what arrived. An adapter declares such endpoints as data
(:class:`InboundRoute`) from :meth:`~adapters.Adapter.inbound_routes`; the gateway mounts them, authenticates the
caller as the route says, and hands the handler a plain :class:`InboundRequest`. Nothing here depends on the
gateway's HTTP server, so a handler is tested by calling it.

Where a route mounts, so that no adapter can shadow the gateway's API or another adapter's routes:

- ``auth="agency"`` (the agency calls us): ``/<agency><path>``, for example ``/oss/receiveNIB``. The gateway
  checks no client key; the handler authenticates the agency itself (OSS's ``Token`` header) and refuses a bad
  caller the way the agency expects.
- ``auth="client"`` (a counter app calls us): ``/v1/<agency><path>``, for example ``/v1/oss/nib/{nib}``. The
  gateway authenticates the client as on every API route, requires the ``grant`` if the route names one, and
  passes the client's id as :attr:`InboundRequest.client_id`.

The gateway reads at most the route's ``max_body`` bytes (its API's own limit by default) and answers a longer body
itself: with the route's ``too_large`` response, or a 413 problem. A handler's :class:`InboundResponse` is sent as
is, except a problem (:meth:`InboundResponse.problem`, for client routes): the gateway renders that like every
other problem of its API, with the type's title, the trace id, and the detail through its masking step. The API
document (``/openapi.json``) describes each route from its ``summary``, ``description``, schemas, headers and
problems.

What an agency pushes is kept through the :class:`AgencyDocuments` port the gateway gives the adapter in
:attr:`~adapters.AdapterContext.documents`: every push is kept as history, and the latest one per key is what a
lookup reads. :class:`MemoryDocuments` is an in-memory implementation for tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol

import orjson

__all__ = [
    "AgencyDocuments",
    "InboundRequest",
    "InboundResponse",
    "InboundRoute",
    "MemoryDocuments",
    "ReceivedDocument",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_PROBLEMS: Mapping[int, str] = MappingProxyType({})
#: RFC 9457's media type: a response of this type is a problem the gateway renders (:meth:`InboundResponse.problem`).
_PROBLEM_MEDIA_TYPE = "application/problem+json"


def _empty() -> Mapping[str, str]:
    return _EMPTY


def _no_problems() -> Mapping[int, str]:
    return _NO_PROBLEMS


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
# Literal segments and {name} parameters only: no regular expressions, no "..", no trailing slash.
_PATH = re.compile(r"^(?:/(?:[A-Za-z0-9._~-]+|\{[a-z_][a-z0-9_]*\}))+$")


@dataclasses.dataclass(frozen=True)
class InboundRequest:
    """One HTTP request to an inbound route, as the gateway hands it to the handler."""

    method: str
    #: The path as mounted (``/oss/receiveNIB``), for messages; the handler does not need to parse it.
    path: str
    #: Request headers, names lower-cased.
    headers: Mapping[str, str]
    #: The raw body; the gateway has already refused one over its size limit.
    body: bytes
    #: The route's ``{name}`` segments, by name.
    path_params: Mapping[str, str] = dataclasses.field(default_factory=_empty)
    #: Query parameters (the first value of each).
    query: Mapping[str, str] = dataclasses.field(default_factory=_empty)
    #: The authenticated client for ``auth="client"`` routes; ``None`` on ``auth="agency"`` routes.
    client_id: str | None = None
    #: The IP address of the connection's other end, as the socket reports it (never read from a header such as
    #: ``X-Forwarded-For``, which the caller writes itself); ``None`` when the server cannot tell.
    peer: str | None = None


@dataclasses.dataclass(frozen=True)
class InboundResponse:
    """What the handler answers: sent as is, in the agency's format (not problem+json)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=_empty)
    content_type: str = "application/json"
    #: Why the handler refused the call, when it did: a short name such as ``address-not-allowed`` (letters,
    #: digits and ``-``; never personal data). Not sent: the gateway counts it in
    #: ``mpp_inbound_refusals_total{agency,route,reason}``, since an agency's refusal often goes out as HTTP 200.
    refusal: str | None = None

    @classmethod
    def json(cls, data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> InboundResponse:
        """A JSON response of ``data``."""
        return cls(status=status, body=orjson.dumps(data), headers=headers or _EMPTY)

    @classmethod
    def problem(
        cls, slug: str, detail: str, *, status: int, errors: Mapping[str, str] | None = None
    ) -> InboundResponse:
        """A refusal as an RFC 9457 problem of the gateway's type ``slug``: a built-in one (``not-found``,
        ``validation-error``, ``not-ready``...) or one of the adapter's ``problem_types``.

        The gateway renders a type it knows as every problem of its API (``/problems/<slug>``, the type's title and
        status, ``instance``, ``trace_id``), so ``status`` should be the type's; one it does not know goes out as
        written here. ``detail`` and the ``errors`` (field path to message) must not hold personal data all the
        same. Meant for client routes: an agency expects its own format.
        """
        body: dict[str, object] = {"type": f"/problems/{slug}", "status": status, "detail": detail}
        if errors:
            body["errors"] = [{"field": field, "message": message} for field, message in errors.items()]
        return cls(status=status, body=orjson.dumps(body), content_type=_PROBLEM_MEDIA_TYPE)


InboundHandler = Callable[[InboundRequest], Awaitable[InboundResponse]]


@dataclasses.dataclass(frozen=True)
class InboundRoute:
    """One endpoint the gateway mounts for an adapter; see the module docstring for where and how.

    ``path`` is relative to the adapter's mount point, made of literal segments and ``{name}`` parameters
    (``/nib/{nib}``). ``grant`` (``auth="client"`` only) is a service id the client must be granted to call the
    route, as for ``POST /v1/requests``; without it any authenticated client may. The handler answers every case
    it expects, refusals included; an exception from it is a bug, which the gateway answers with a 500 and logs.

    The other fields describe the route in the gateway's API document and bound what it reads; none is enforced
    beyond ``max_body``: the handler checks what it is sent.
    """

    method: str
    path: str
    handler: InboundHandler
    auth: Literal["agency", "client"]
    grant: str | None = None
    #: One line for the API document.
    summary: str = ""
    #: What the route is for, who calls it and how it answers, for the API document.
    description: str = ""
    #: The largest body the gateway reads for this route, in bytes; ``None``: the API's own limit.
    max_body: int | None = None
    #: What the gateway answers a longer body with (an agency expects its own format); ``None``: a 413 problem.
    too_large: InboundResponse | None = None
    #: JSON Schema of the request body, for the API document.
    request_schema: Mapping[str, Any] | None = None
    #: JSON Schema of a 200 answer's body, for the API document.
    response_schema: Mapping[str, Any] | None = None
    #: Headers the caller must send, by name, with what each holds, for the API document.
    request_headers: Mapping[str, str] = dataclasses.field(default_factory=_empty)
    #: The statuses of the problems the handler answers (:meth:`InboundResponse.problem`), with what each means.
    problems: Mapping[int, str] = dataclasses.field(default_factory=_no_problems)

    def __post_init__(self) -> None:
        if self.method not in _METHODS:
            raise ValueError(f"inbound route method must be one of {', '.join(sorted(_METHODS))}: {self.method!r}")
        if not _PATH.match(self.path) or "/../" in self.path + "/" or "/./" in self.path + "/":
            raise ValueError(f"inbound route path must be /segments or /{{name}} parameters: {self.path!r}")
        if self.auth not in ("agency", "client"):
            raise ValueError(f"inbound route auth must be 'agency' or 'client': {self.auth!r}")
        if self.grant is not None and self.auth != "client":
            raise ValueError("only a client route can require a grant; an agency route authenticates the agency")
        if self.max_body is not None and self.max_body < 1:
            raise ValueError(f"inbound route max_body must be positive: {self.max_body!r}")
        if any(not 400 <= status <= 599 for status in self.problems):
            raise ValueError(f"inbound route problems are 4xx or 5xx statuses: {sorted(self.problems)!r}")

    def mount_path(self, agency: str) -> str:
        """The absolute path the gateway serves this route at for ``agency``."""
        prefix = f"/{agency}" if self.auth == "agency" else f"/v1/{agency}"
        return prefix + self.path


@dataclasses.dataclass(frozen=True)
class ReceivedDocument:
    """One document an agency pushed, with when it arrived."""

    document: dict[str, Any]
    received_at: dt.datetime


class AgencyDocuments(Protocol):
    """The store of what an agency pushed, scoped to one adapter's agency by the gateway.

    ``kind`` names the sort of document (``"nib"``), ``key`` the thing it is about (the NIB). Every ``put`` is
    kept: ``history`` returns all of them in the order they were put, ``latest`` the one put last (an agency that
    resends an old version has resent it: it is the latest). Documents are JSON objects and may hold personal data;
    the gateway's implementation stores them as it stores requests (encrypted, purged after retention, so the
    history holds what arrived within the retention period). ``kind`` and ``key`` are kept in clear, to find
    documents by: a key is a business or document number, never a person's NIK or name.
    """

    async def put(self, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime) -> None:
        """Keep ``document`` as the latest of ``(kind, key)``; earlier ones stay in the history.

        Raises when it cannot be kept (the gateway's store is down, say): the handler decides what its agency hears.
        """

    async def latest(self, kind: str, key: str) -> dict[str, Any] | None:
        """The document of ``(kind, key)`` put last, or ``None`` if none arrived."""

    async def history(self, kind: str, key: str) -> list[ReceivedDocument]:
        """Every document of ``(kind, key)`` with its arrival time, in the order put; empty if none arrived."""


class MemoryDocuments:
    """An :class:`AgencyDocuments` in memory, for tests: nothing survives the process.

    Documents are copied in and out, so a caller that changes a dict afterwards changes nothing stored.
    """

    def __init__(self) -> None:
        self._received: dict[tuple[str, str], list[ReceivedDocument]] = {}

    async def put(self, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime) -> None:
        """Keep ``document`` as the latest of ``(kind, key)``; earlier ones stay in the history."""
        if received_at.tzinfo is None:
            raise ValueError("received_at must carry its time zone")
        self._received.setdefault((kind, key), []).append(ReceivedDocument(_copy(document), received_at))

    async def latest(self, kind: str, key: str) -> dict[str, Any] | None:
        """The document of ``(kind, key)`` put last, or ``None`` if none arrived."""
        received = self._received.get((kind, key))
        return _copy(received[-1].document) if received else None

    async def history(self, kind: str, key: str) -> list[ReceivedDocument]:
        """Every document of ``(kind, key)`` with its arrival time, in the order put; empty if none arrived."""
        return [ReceivedDocument(_copy(r.document), r.received_at) for r in self._received.get((kind, key), ())]


def _copy(document: dict[str, Any]) -> dict[str, Any]:
    # Through JSON: a deep copy that also refuses what a real store could not keep.
    copied: dict[str, Any] = orjson.loads(orjson.dumps(document))
    return copied
