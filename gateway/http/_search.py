"""``GET /v1/requests``: search requests by status, service, agency, MPP, problem type, id and time, newest first.

An operations client (:attr:`gateway.security.Client.is_ops`) searches every request and sees each masked
(:func:`~._handlers.masked_record`: no result, no agency reference, the applicant as the masked NIK only); a counter
client searches what it may read (its own requests, and its MPP's) and sees the record ``GET /v1/requests/{id}``
shows it, each read with a result audited as ``request.read``. Pages follow one another by an opaque cursor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import orjson
from aiohttp import web
from multidict import MultiMapping

from contracts import FieldError, JourneyStatus, RequestStatus

from ..problems import ApiProblem
from ..security import Client
from ..store import (
    DEFAULT_SEARCH_LIMIT,
    MAX_SEARCH_LIMIT,
    PROBLEM_SLUG,
    ReaderScope,
    RequestQuery,
    SearchCursor,
)
from ._edge import client_of
from ._handlers import STATE, masked_record, to_record

__all__ = [
    "SEARCH_PARAMETERS",
    "parse_statuses",
    "parse_when",
    "search_operation",
    "search_parameters",
    "search_query",
    "search_routes",
]

#: The query parameters of ``GET /v1/requests`` and what each takes (the OpenAPI document describes them from this).
SEARCH_PARAMETERS: Mapping[str, str] = {
    "status": "One status or several, comma-separated or repeated (accepted, in_progress, waiting_agency, "
    "completed, rejected, failed).",
    "service": "A service id (dukcapil.nik.verify).",
    "agency": "An agency (dukcapil).",
    "mpp_id": "The MPP the request was made for.",
    "problem": "A problem type's slug (agency-unavailable): requests whose problem is of that type.",
    "id": "A request id: that request, if this client may see it.",
    "since": "Created at or after: ISO 8601 (UTC when it has no offset) or an age: 45s, 30m, 1h, 2d.",
    "until": "Created before: ISO 8601 (UTC when it has no offset) or an age: 45s, 30m, 1h, 2d.",
    "limit": f"Requests per page, 1 to {MAX_SEARCH_LIMIT} (default {DEFAULT_SEARCH_LIMIT}).",
    "cursor": "The previous page's next_cursor: the page after it.",
}
_RELATIVE = re.compile(r"^(\d{1,7})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_TEXT = 128
_NAME = re.compile(r"^[A-Za-z_]{1,32}$")
_Status = TypeVar("_Status", RequestStatus, JourneyStatus)


def parse_when(text: str, now: dt.datetime) -> dt.datetime:
    """A point in time: ISO 8601 (UTC when it has no offset), or an age before ``now`` (``45s``, ``30m``, ``1h``,
    ``2d``); :class:`ValueError` otherwise."""
    value = text.strip()
    if match := _RELATIVE.match(value):
        return now - dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be ISO 8601 (2026-12-06T08:00:00+07:00) or an age such as 45s, 30m, 1h, 2d") from None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def parse_statuses(values: Sequence[str]) -> tuple[RequestStatus, ...]:
    """Statuses given comma-separated or repeated; :class:`ValueError` naming the valid ones otherwise."""
    return _statuses(values, RequestStatus)


def _statuses(values: Sequence[str], kind: type[_Status]) -> tuple[_Status, ...]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    try:
        return tuple(kind(name) for name in names)
    except ValueError:
        raise ValueError(f"must be one or more of {', '.join(str(s) for s in kind)}") from None


class _Reader:
    """Reads the query's parameters, gathering one error per bad parameter."""

    def __init__(self, params: MultiMapping[str]) -> None:
        self.params = params
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(field=f"query.{name}", message=message))

    def one(self, name: str) -> str | None:
        values = self.params.getall(name, [])
        if len(values) > 1:
            self.fail(name, "must be given once")
            return None
        value = values[0].strip() if values else ""
        if len(value) > _MAX_TEXT:
            self.fail(name, f"must be at most {_MAX_TEXT} characters")
            return None
        return value or None

    def parsed(self, name: str, parse: Callable[[str], Any]) -> Any:
        value = self.one(name)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            self.fail(name, str(exc))
            return None

    def unknown(self, known: Mapping[str, str]) -> None:
        """Fails each parameter not in ``known``."""
        for name in sorted(set(self.params) - set(known)):
            # The name is echoed only when it looks like one: never a value (a NIK, say) sent in its place.
            self.fail(name if _NAME.match(name) else "(unknown)", f"is not a parameter of this search (known: "
                      f"{', '.join(known)})")  # fmt: skip

    def statuses(self, kind: type[_Status]) -> tuple[_Status, ...]:
        """The ``status`` parameter's statuses of ``kind``: comma-separated or repeated."""
        try:
            return _statuses(self.params.getall("status", []), kind)
        except ValueError as exc:
            self.fail("status", str(exc))
            return ()

    def window(self, now: dt.datetime) -> _Window:
        """``since``, ``until`` (later than since), ``limit`` (the default when not given) and ``cursor``."""
        since = self.parsed("since", lambda value: parse_when(value, now))
        until = self.parsed("until", lambda value: parse_when(value, now))
        limit = self.parsed("limit", _limit)
        cursor = self.parsed("cursor", _cursor)
        if since is not None and until is not None and until <= since:
            self.fail("until", "must be later than since")
        return _Window(since, until, limit or DEFAULT_SEARCH_LIMIT, cursor)

    def check(self) -> None:
        """A 422 problem naming each bad parameter, if any."""
        if self.errors:
            named = ", ".join(dict.fromkeys(e.field for e in self.errors))
            raise ApiProblem("validation-error", f"the search's parameters are not valid: {named}", errors=self.errors)


class _Window(NamedTuple):
    since: dt.datetime | None
    until: dt.datetime | None
    limit: int
    cursor: SearchCursor | None


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SEARCH_LIMIT:
        raise ValueError(f"must be a whole number from 1 to {MAX_SEARCH_LIMIT}")
    return int(text)


def _slug(text: str) -> str:
    if not PROBLEM_SLUG.match(text):
        raise ValueError("must be a problem type's slug, such as agency-unavailable")
    return text


def _cursor(text: str) -> SearchCursor:
    try:
        return SearchCursor.decode(text)
    except ValueError:
        raise ValueError("must be a next_cursor this search returned") from None


def search_query(params: MultiMapping[str], client: Client, now: dt.datetime) -> RequestQuery:
    """The store query the parameters ask for, scoped to what ``client`` may see; a 422 problem naming each bad
    parameter (``query.<name>``) otherwise."""
    read = _Reader(params)
    read.unknown(SEARCH_PARAMETERS)
    statuses = read.statuses(RequestStatus)
    text = {name: read.one(name) for name in ("service", "agency", "mpp_id", "id")}
    problem = read.parsed("problem", _slug)
    window = read.window(now)
    read.check()
    return RequestQuery(
        statuses=statuses,
        service=text["service"],
        agency=text["agency"],
        mpp_id=text["mpp_id"],
        request_id=text["id"],
        problem=problem,
        since=window.since,
        until=window.until,
        scope=None if client.is_ops else ReaderScope(client.id, client.mpp_id),
        limit=window.limit,
        after=window.cursor,
        with_personal_data=not client.is_ops,
    )


async def search_requests(request: web.Request) -> web.Response:
    """``GET /v1/requests``: a page of the requests this client may see, newest first, and the next page's cursor."""
    state = request.app[STATE]
    client = client_of(request)
    page = await state.store.search(search_query(request.query, client, dt.datetime.now(dt.UTC)))
    if client.is_ops:
        records = [masked_record(row) for row in page.requests]
    else:
        records = [to_record(row).model_dump(mode="json") for row in page.requests]
        await asyncio.gather(*(state.auditor.read(client, row) for row in page.requests))
    cursor = page.next_cursor.encode() if page.next_cursor is not None else None
    body = orjson.dumps({"requests": records, "next_cursor": cursor})
    return web.Response(body=body, content_type="application/json")


def search_routes() -> list[web.AbstractRouteDef]:
    """The search's route."""
    return [web.get("/v1/requests", search_requests)]


def search_parameters(
    descriptions: Mapping[str, str], statuses: type[RequestStatus] | type[JourneyStatus]
) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of a search: ``descriptions`` by name, ``status`` one of ``statuses``."""
    parameters: list[dict[str, Any]] = []
    for name, text in descriptions.items():
        schema: dict[str, Any] = {"type": "string"}
        if name == "limit":
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_LIMIT, "default": DEFAULT_SEARCH_LIMIT}
        elif name == "status":
            schema = {"type": "array", "items": {"type": "string", "enum": [str(s) for s in statuses]}}
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "description": text,
                                     "schema": schema}  # fmt: skip
        if name == "status":
            parameter.update(style="form", explode=False)  # status=failed,rejected (repeating it works too)
        parameters.append(parameter)
    return parameters


def search_operation(errors: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI operation of ``GET /v1/requests``; ``errors(*codes)`` describes its problem responses."""
    page = {
        "type": "object",
        "required": ["requests", "next_cursor"],
        "properties": {
            "requests": {"type": "array", "items": {"$ref": "#/components/schemas/RequestRecord"}},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page."},
        },
    }
    return {
        "operationId": "searchRequests",
        "summary": "Search requests by status, service, agency, MPP, problem type, id and time, newest first",
        "description": (
            "A counter client finds the requests it may read (its own, and its MPP's), as `GET "
            "/v1/requests/{request_id}` shows them. An operations client (role `ops`) finds every request, masked: "
            "no `result`, no `agency_reference`, the applicant as the masked NIK only. A bad parameter is a 422 "
            "problem whose `errors` name it as `query.<name>`."
        ),
        "tags": ["requests"],
        "parameters": search_parameters(SEARCH_PARAMETERS, RequestStatus),
        "responses": {
            "200": {"description": "One page, newest first.", "content": {"application/json": {"schema": page}}},
            **errors(401, 422, 500),
        },
    }
