"""Service levels and satisfaction ratings over HTTP.

``GET /v1/reports/service-levels`` (operations clients): per hour or day and per agency, service and/or MPP, the
requests, their outcomes by problem type, duration percentiles, the agency's availability and the citizens'
ratings, as JSON or CSV (``format=csv`` or ``Accept: text/csv``). The store computes it from the requests
(:mod:`gateway.store._reports`), so every replica answers the same and nothing is lost at a restart.

``POST /v1/requests/{id}/rating`` (counter clients): the citizen's rating of a finished request, scored 1-4 on the
elements of the public-service satisfaction survey (SKM, PermenPAN-RB 14/2017). A request is rated once: the same
rating sent again is answered as before (a retry is safe), a different one is refused with 409
``request-already-rated``.

Neither the report nor a rating holds personal data: counts, times, names of agencies, services, MPPs and problem
types, and scores.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar

import orjson
from aiohttp import web

from contracts import FieldError

from ..audit import Auditor
from ..problems import ApiProblem
from ..store import (
    GROUPS,
    MAX_REPORT_DAYS,
    SKM_ELEMENTS,
    AuditEvent,
    JourneyRating,
    Rating,
    ReportQuery,
    ServiceLevelRow,
)
from ._edge import client_of, ops_only
from ._handlers import STATE, _read_json

__all__ = [
    "applicant_subject",
    "keep_rating",
    "parse_scores",
    "rating_schemas",
    "report_csv",
    "reports_paths",
    "reports_routes",
]

_Rated = TypeVar("_Rated", Rating, JourneyRating)

#: The window a report covers when ``from`` is not given, ending at ``to``.
DEFAULT_WINDOW = {"hour": dt.timedelta(hours=24), "day": dt.timedelta(days=7)}
_PARAMETERS = ("from", "to", "group_by", "bucket", "format")
_FORMATS = ("json", "csv")
_BUCKETS = ("hour", "day")
#: Characters a spreadsheet would read as the start of a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _invalid(name: str, message: str) -> ApiProblem:
    return ApiProblem(
        "validation-error",
        f"query parameter '{name}': {message}",
        errors=[FieldError(field=f"query.{name}", message=message)],
    )


def _instant(name: str, raw: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, "must be a date or time in ISO 8601 (2026-12-01T08:00:00+07:00)") from None
    if at.tzinfo is None:  # a time without offset is taken as UTC, the report's time zone
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC)


def _choice(name: str, raw: str | None, allowed: tuple[str, ...], default: str) -> str:
    if raw is None or raw == "":
        return default
    if raw not in allowed:
        raise _invalid(name, f"must be one of {', '.join(allowed)}")
    return raw


def parse_report_query(request: web.Request, *, now: dt.datetime) -> tuple[ReportQuery, str]:
    """The report asked for and its format (``json`` or ``csv``); a 422 problem naming the parameter otherwise."""
    query = request.query
    for name in query:
        if name not in _PARAMETERS:
            raise _invalid(name, f"unknown parameter (known: {', '.join(_PARAMETERS)})")
        if len(query.getall(name)) > 1:
            raise _invalid(name, "given more than once")
    asked = _choice("bucket", query.get("bucket"), _BUCKETS, "hour")
    bucket: Literal["hour", "day"] = "day" if asked == "day" else "hour"
    accept = request.headers.get("Accept", "")
    wanted = "csv" if "text/csv" in accept and "application/json" not in accept else "json"
    fmt = _choice("format", query.get("format"), _FORMATS, wanted)
    groups = [g.strip() for g in query.get("group_by", "agency").split(",")]
    if not all(groups) or any(g not in GROUPS for g in groups):
        raise _invalid("group_by", f"must be a comma-separated list of {', '.join(GROUPS)}")
    if len(set(groups)) != len(groups):
        raise _invalid("group_by", "names a grouping twice")
    end = _instant("to", query["to"]) if query.get("to") else now
    start = _instant("from", query["from"]) if query.get("from") else end - DEFAULT_WINDOW[bucket]
    if start >= end:
        raise _invalid("to", "must be later than 'from'")
    if end - start > dt.timedelta(days=MAX_REPORT_DAYS):
        raise _invalid("from", f"the window may span at most {MAX_REPORT_DAYS} days")
    return ReportQuery(start=start, end=end, bucket=bucket, group_by=tuple(groups)), fmt


def report_json(query: ReportQuery, rows: list[ServiceLevelRow]) -> dict[str, Any]:
    """The report's JSON body."""
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "bucket": query.bucket,
        "group_by": list(query.group_by),
        "rows": [row.as_dict() for row in rows],
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def report_csv(query: ReportQuery, rows: list[ServiceLevelRow]) -> str:
    """The report as CSV: the JSON's columns, ``failed_by_problem`` as one ``failed.<slug>`` column per problem type
    present and ``rating_elements`` as one ``rating.<element>`` column per SKM element; empty cells for no value."""
    fields = [GROUPS[g] for g in query.group_by]
    slugs = sorted({slug for row in rows for slug in row.failed_by_problem})
    header = [
        "bucket_start", *fields, "requests", "completed", "rejected", "failed", *(f"failed.{s}" for s in slugs),
        "p50_ms", "p95_ms", "p99_ms", "availability", "journeys_within_visit", "ratings", "rating_mean",
        *(f"rating.{e}" for e in SKM_ELEMENTS),
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        group = dict(row.group)
        writer.writerow(
            [
                row.bucket_start.isoformat(), *(_cell(group[f]) for f in fields), row.requests, row.completed,
                row.rejected, row.failed, *(row.failed_by_problem.get(s, 0) for s in slugs), _cell(row.p50_ms),
                _cell(row.p95_ms), _cell(row.p99_ms), _cell(row.availability), _cell(row.journeys_within_visit),
                row.ratings, _cell(row.rating_mean), *(_cell(row.rating_elements.get(e)) for e in SKM_ELEMENTS),
            ]
        )  # fmt: skip
    return out.getvalue()


@ops_only
async def service_levels(request: web.Request) -> web.Response:
    """``GET /v1/reports/service-levels``: the service-level report, JSON or CSV."""
    query, fmt = parse_report_query(request, now=dt.datetime.now(dt.UTC))
    rows = await request.app[STATE].store.service_levels(query)
    if fmt == "csv":
        return web.Response(
            text=report_csv(query, rows),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="service-levels.csv"'},
        )
    return web.Response(body=orjson.dumps(report_json(query, rows)), content_type="application/json")


def parse_scores(body: Any) -> dict[str, int]:
    """The scores of a rating body ``{"scores": {element: 1-4}}``; a 422 problem naming the field otherwise."""
    if not isinstance(body, dict):
        raise ApiProblem(
            "validation-error", "the body must be a JSON object",
            errors=[FieldError(field="(body)", message="must be a JSON object")],
        )  # fmt: skip
    for key in body:
        if key != "scores":
            raise ApiProblem(
                "validation-error", "a rating holds scores only",
                errors=[FieldError(field=str(key), message="unknown field: a rating holds 'scores' only")],
            )  # fmt: skip
    scores = body.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise ApiProblem(
            "validation-error", "'scores' must name at least one element",
            errors=[FieldError(field="scores", message=f"an object scoring one or more of {', '.join(SKM_ELEMENTS)}")],
        )  # fmt: skip
    errors = []
    for element, score in scores.items():
        if element not in SKM_ELEMENTS:
            errors.append(FieldError(field=f"scores.{element}", message="not an element of the survey (SKM)"))
        elif not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 4:
            errors.append(FieldError(field=f"scores.{element}", message="must be a whole number from 1 to 4"))
    if errors:
        raise ApiProblem("validation-error", "the rating's scores are not valid", errors=errors)
    return {element: scores[element] for element in SKM_ELEMENTS if element in scores}


def applicant_subject(auditor: Auditor, envelope: Mapping[str, Any]) -> str | None:
    """The audit subject of the applicant an envelope names (``None`` without an audit key or a NIK)."""
    applicant = envelope.get("applicant")
    return auditor.subject(applicant.get("nik") if isinstance(applicant, dict) else None)


async def keep_rating(
    request: web.Request, rating: _Rated, *, kind: Literal["request", "journey"], name: str, ident: str,
    envelope: Mapping[str, Any], save: Callable[..., Awaitable[_Rated | None]],
) -> web.Response:  # fmt: skip
    """Keeps the rating of the ``kind`` ``ident`` (of the service or journey ``name``), audited as
    ``<kind>.rated``: 201 with it; 200 with the rating kept before when it has the same scores (a retry); a 409
    ``<kind>-already-rated`` problem when it has others. ``save`` stores it, answering the rating kept before."""
    state = request.app[STATE]
    client = client_of(request)
    audit = None
    if state.auditor.enabled:
        audit = AuditEvent(
            f"{kind}.rated", rating.rated_at, client.id, rating.mpp_id, None, None, name, ident,
            applicant_subject(state.auditor, envelope), "ok",
        )  # fmt: skip
    earlier = await save(rating, audit=audit)
    if earlier is not None and dict(earlier.scores) != dict(rating.scores):
        raise ApiProblem(f"{kind}-already-rated", f"this {kind} was rated already; a rating is not changed")
    kept, status = (rating, 201) if earlier is None else (earlier, 200)  # the same rating again: a retry
    body = {f"{kind}_id": ident, "rated_at": kept.rated_at.isoformat(), "scores": dict(kept.scores)}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def rate_request(request: web.Request) -> web.Response:
    """``POST /v1/requests/{id}/rating``: the citizen's rating of a finished request, once."""
    state = request.app[STATE]
    client = client_of(request)
    scores = parse_scores(await _read_json(request))
    row = await state.store.get(request.match_info["request_id"], with_attempts=False)
    if row is None or not client.may_read(row.client_id, row.mpp_id):
        await state.auditor.denied_read(client, row)
        raise ApiProblem("not-found", "no request with this id for this client")
    if not row.status.final:
        raise ApiProblem("request-not-final", f"the request is {row.status}: rate it once it is final")
    rating = Rating(row.id, row.service, row.agency, row.mpp_id, dt.datetime.now(dt.UTC), scores)
    return await keep_rating(
        request, rating, kind="request", name=row.service, ident=row.id, envelope=row.envelope,
        save=state.store.save_rating,
    )  # fmt: skip


def reports_routes() -> list[web.AbstractRouteDef]:
    """The report and rating routes."""
    return [
        web.get("/v1/reports/service-levels", service_levels),
        web.post("/v1/requests/{request_id}/rating", rate_request),
    ]


def _problems(**texts: str) -> dict[str, Any]:
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {code.lstrip("_"): {"description": text, "content": content} for code, text in texts.items()}


_NUMBER_OR_NULL = {"type": ["number", "null"]}
_ROW = {
    "type": "object",
    "required": ["bucket_start", "requests", "completed", "rejected", "failed", "failed_by_problem", "p50_ms",
                 "p95_ms", "p99_ms", "availability", "journeys_within_visit", "ratings", "rating_mean",
                 "rating_elements"],
    "properties": {
        "bucket_start": {"type": "string", "format": "date-time", "description": "Start of the hour or day (UTC)."},
        "agency": {"type": "string", "description": "When grouped by agency."},
        "service": {"type": "string", "description": "When grouped by service."},
        "mpp_id": {"type": "string", "description": "When grouped by MPP."},
        "requests": {"type": "integer", "description": "Requests accepted in the bucket (final or not)."},
        "completed": {"type": "integer"},
        "rejected": {"type": "integer"},
        "failed": {"type": "integer"},
        "failed_by_problem": {"type": "object", "additionalProperties": {"type": "integer"},
                              "description": "Failed requests by problem type slug."},
        "p50_ms": {**_NUMBER_OR_NULL, "description": "Median duration of final requests, acceptance to outcome."},
        "p95_ms": _NUMBER_OR_NULL,
        "p99_ms": _NUMBER_OR_NULL,
        "availability": {**_NUMBER_OR_NULL, "description": (
            "Rows grouped by agency: the share (0-1) of the bucket's time the agency's circuit was closed, averaged "
            "over the replicas that reported; null when none reported, or when not grouped by agency.")},
        "journeys_within_visit": {
            **_NUMBER_OR_NULL,
            "description": "Of the ended journeys started in the bucket whose steps reached the row's group, the "
            "share that ended within their visit budget; null without any.",
        },
        "ratings": {"type": "integer", "description": (
            "Ratings of the bucket's requests, and of the journeys started in the bucket whose steps reached the "
            "row's group (a journey's rating counts once per row)."
        )},
        "rating_mean": {**_NUMBER_OR_NULL, "description": "Mean of the element means (1-4)."},
        "rating_elements": {"type": "object", "additionalProperties": {"type": "number"},
                            "description": "Mean score (1-4) per SKM element scored."},
    },
}  # fmt: skip
_SCORES = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {e: {"type": "integer", "minimum": 1, "maximum": 4} for e in SKM_ELEMENTS},
}


def rating_schemas(kind: Literal["request", "journey"]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI schemas of a ``kind``'s rating as answered, and of the body that rates it."""
    rating = {
        "type": "object",
        "required": [f"{kind}_id", "rated_at", "scores"],
        "properties": {
            f"{kind}_id": {"type": "string"},
            "rated_at": {"type": "string", "format": "date-time"},
            "scores": _SCORES,
        },
    }
    body = {"type": "object", "required": ["scores"], "additionalProperties": False, "properties": {"scores": _SCORES}}
    return rating, body


def reports_paths() -> dict[str, Any]:
    """The OpenAPI description of this module's routes."""
    param = {"in": "query", "required": False}
    report = {
        "type": "object",
        "required": ["from", "to", "bucket", "group_by", "rows"],
        "properties": {
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "bucket": {"type": "string", "enum": list(_BUCKETS)},
            "group_by": {"type": "array", "items": {"type": "string", "enum": list(GROUPS)}},
            "rows": {"type": "array", "items": _ROW},
        },
    }
    rating, body = rating_schemas("request")
    return {
        "/v1/reports/service-levels": {
            "get": {
                "operationId": "serviceLevels",
                "summary": "Operations clients: service levels per hour or day and per agency, service or MPP",
                "description": (
                    "Requests accepted in [from, to) (UTC buckets), their outcomes by problem type, duration "
                    "percentiles, the agency's availability and the citizens' ratings. JSON, or CSV with "
                    "`format=csv` or `Accept: text/csv` (failed_by_problem as `failed.<slug>` columns, "
                    f"rating_elements as `rating.<element>` columns). At most {MAX_REPORT_DAYS} days per call."
                ),
                "tags": ["operations"],
                "parameters": [
                    {**param, "name": "from", "schema": {"type": "string", "format": "date-time"},
                     "description": "ISO 8601; default: 24 hours (bucket=hour) or 7 days (bucket=day) before `to`."},
                    {**param, "name": "to", "schema": {"type": "string", "format": "date-time"},
                     "description": "ISO 8601, exclusive; default: now."},
                    {**param, "name": "group_by", "schema": {"type": "string", "default": "agency"},
                     "description": "Comma-separated: agency, service, mpp.", "example": "agency,service"},
                    {**param, "name": "bucket", "schema": {"type": "string", "enum": list(_BUCKETS),
                                                           "default": "hour"}},
                    {**param, "name": "format", "schema": {"type": "string", "enum": list(_FORMATS)}},
                ],
                "responses": {
                    "200": {
                        "description": "The report.",
                        "content": {"application/json": {"schema": report}, "text/csv": {"schema": {"type": "string"}}},
                    },
                    **_problems(
                        _401="Missing or unknown credentials.",
                        _403="The client is not an operations client (no ops role).",
                        _422="A query parameter is not valid: 'errors' names it (query.<name>).",
                        _429="This client's request rate is exceeded; Retry-After says when to try again.",
                        _500="Unexpected error (identified by trace_id).",
                    ),
                },
            }
        },
        "/v1/requests/{request_id}/rating": {
            "post": {
                "operationId": "rateRequest",
                "summary": "The citizen's rating of a finished request (SKM elements, 1-4), once",
                "description": (
                    "Scores one or more elements of the public-service satisfaction survey (SKM, PermenPAN-RB "
                    f"14/2017): {', '.join(SKM_ELEMENTS)}. No free text, nothing about the person. A request is "
                    "rated once: the same scores sent again answer 200 with the rating kept, other scores 409."
                ),
                "tags": ["requests"],
                "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "201": {"description": "The rating, kept.", "content": {"application/json": {"schema": rating}}},
                    "200": {
                        "description": "The same rating was kept before (a retry).",
                        "content": {"application/json": {"schema": rating}},
                    },
                    **_problems(
                        _400="Malformed JSON body.",
                        _401="Missing or unknown credentials.",
                        _404="Not found, or not visible to this client.",
                        _408="The body did not arrive in time (request-timeout); send it again.",
                        _409="The request is not final yet (request-not-final), or was rated already with other "
                        "scores (request-already-rated).",
                        _413="Body larger than the gateway accepts.",
                        _415="Body is not application/json.",
                        _422="The scores are not valid: 'errors' names the field.",
                        _429="This client's request rate is exceeded; Retry-After says when to try again.",
                        _500="Unexpected error (identified by trace_id).",
                        _503="The store cannot take writes now; see Retry-After.",
                    ),
                },
            }
        },
    }
