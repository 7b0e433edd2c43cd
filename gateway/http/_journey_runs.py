"""``GET /v1/journey-runs`` (search the journeys that ran) and ``POST /v1/journeys/{id}/rating`` (the citizen's
rating of a finished journey).

``GET /v1/journeys`` is the published catalog of journey *definitions*; the journeys started from them are read one
by one at ``GET /v1/journeys/{id}``. Their search is a collection of its own, ``/v1/journey-runs``, so neither the
catalog's answer nor its parameters change. Each row is a summary (definition, MPP, status, problem, timing, visit
figures, steps done of total, the applicant as the masked NIK): nothing sealed is read, whoever searches. An
operations client searches every journey; a counter client the journeys it may read (its own, and its MPP's).

A journey is rated as one visit, with the body and rules of ``POST /v1/requests/{id}/rating``: once, the same
scores again answered as before, other scores 409 ``journey-already-rated``, a journey still running 409
``journey-not-final``. The rating holds scores only; the report counts it in the journey's MPP and in the agencies
and services its steps used (:mod:`gateway.store._reports`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from contracts import JourneyStatus

from ..problems import ApiProblem
from ..security import Client
from ..store import (
    DEFAULT_SEARCH_LIMIT,
    MAX_SEARCH_LIMIT,
    SKM_ELEMENTS,
    AuditEvent,
    JourneyQuery,
    JourneyRating,
    ReaderScope,
)
from ._edge import client_of
from ._handlers import STATE, _read_json
from ._reports import applicant_subject, keep_rating, parse_scores, rating_schemas
from ._search import _Reader, search_parameters

__all__ = ["JOURNEY_SEARCH_PARAMETERS", "journey_runs_paths", "journey_runs_routes", "journey_search_query"]

#: The query parameters of ``GET /v1/journey-runs`` and what each takes (the OpenAPI document describes them).
JOURNEY_SEARCH_PARAMETERS: Mapping[str, str] = {
    "status": "One status or several, comma-separated or repeated (running, completed, failed, cancelled).",
    "journey": "A journey definition's id (business.micro-start).",
    "mpp_id": "The MPP the journey was started for.",
    "id": "A journey id: that journey, if this client may see it.",
    "since": "Started at or after: ISO 8601 (UTC when it has no offset) or an age: 45s, 30m, 1h, 2d.",
    "until": "Started before: ISO 8601 (UTC when it has no offset) or an age: 45s, 30m, 1h, 2d.",
    "limit": f"Journeys per page, 1 to {MAX_SEARCH_LIMIT} (default {DEFAULT_SEARCH_LIMIT}).",
    "cursor": "The previous page's next_cursor: the page after it.",
}


def journey_search_query(params: MultiMapping[str], client: Client, now: dt.datetime) -> JourneyQuery:
    """The store query the parameters ask for, scoped to what ``client`` may see; a 422 problem naming each bad
    parameter (``query.<name>``) otherwise."""
    read = _Reader(params)
    read.unknown(JOURNEY_SEARCH_PARAMETERS)
    statuses = read.statuses(JourneyStatus)
    text = {name: read.one(name) for name in ("journey", "mpp_id", "id")}
    window = read.window(now)
    read.check()
    return JourneyQuery(
        statuses=statuses,
        journey=text["journey"],
        mpp_id=text["mpp_id"],
        journey_id=text["id"],
        since=window.since,
        until=window.until,
        scope=None if client.is_ops else ReaderScope(client.id, client.mpp_id),
        limit=window.limit,
        after=window.cursor,
    )


async def search_journeys(request: web.Request) -> web.Response:
    """``GET /v1/journey-runs``: a page of the journeys this client may see, newest first, and the next cursor."""
    query = journey_search_query(request.query, client_of(request), dt.datetime.now(dt.UTC))
    page = await request.app[STATE].store.search_journeys(query)
    cursor = page.next_cursor.encode() if page.next_cursor is not None else None
    body = orjson.dumps({"journeys": [j.as_dict() for j in page.journeys], "next_cursor": cursor})
    return web.Response(body=body, content_type="application/json")


async def rate_journey(request: web.Request) -> web.Response:
    """``POST /v1/journeys/{id}/rating``: the citizen's rating of a finished journey, once."""
    state = request.app[STATE]
    client = client_of(request)
    scores = parse_scores(await _read_json(request))
    journey = await state.store.get_journey(request.match_info["journey_id"])
    if journey is None or not client.may_read(journey.client_id, journey.mpp_id):
        if journey is not None:  # an unknown id concerns nobody
            await state.auditor.record(
                AuditEvent("access.denied", dt.datetime.now(dt.UTC), client.id, client.mpp_id, None, None,
                           journey.journey, journey.id, applicant_subject(state.auditor, journey.envelope),
                           "not-visible")
            )  # fmt: skip
        raise ApiProblem("not-found", "no journey with this id for this client")
    if not journey.status.final:
        raise ApiProblem("journey-not-final", f"the journey is {journey.status}: rate it once it is final")
    rating = JourneyRating(journey.id, journey.journey, journey.mpp_id, dt.datetime.now(dt.UTC), scores)
    return await keep_rating(
        request, rating, kind="journey", name=journey.journey, ident=journey.id, envelope=journey.envelope,
        save=state.store.save_journey_rating,
    )  # fmt: skip


def journey_runs_routes() -> list[web.AbstractRouteDef]:
    """The journey search's and the journey rating's routes."""
    return [
        web.get("/v1/journey-runs", search_journeys),
        web.post("/v1/journeys/{journey_id}/rating", rate_journey),
    ]


_SUMMARY = {
    "type": "object",
    "required": ["id", "journey", "mpp_id", "applicant", "status", "problem", "trace_id", "visit_budget_seconds",
                 "within_visit", "created_at", "updated_at", "finished_at", "steps_total", "steps_done"],
    "properties": {
        "id": {"type": "string", "description": "Read it whole at GET /v1/journeys/{id}."},
        "journey": {"type": "string", "description": "The definition's id."},
        "mpp_id": {"type": "string"},
        "applicant": {"type": "object", "required": ["nik_masked"],
                      "properties": {"nik_masked": {"type": "string"}}},
        "status": {"type": "string", "enum": [str(s) for s in JourneyStatus]},
        "problem": {"type": ["object", "null"], "description": "RFC 9457, when the journey failed."},
        "trace_id": {"type": ["string", "null"]},
        "visit_budget_seconds": {"type": "number"},
        "within_visit": {"type": ["boolean", "null"], "description": "Once ended: within the visit budget."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "steps_total": {"type": "integer"},
        "steps_done": {"type": "integer", "description": "Steps completed, rejected, failed, skipped or cancelled."},
    },
}  # fmt: skip


def journey_runs_paths(errors: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI description of this module's routes; ``errors(*codes)`` describes their problem responses."""
    page = {
        "type": "object",
        "required": ["journeys", "next_cursor"],
        "properties": {
            "journeys": {"type": "array", "items": _SUMMARY},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page."},
        },
    }
    rating, body = rating_schemas("journey")
    return {
        "/v1/journey-runs": {
            "get": {
                "operationId": "searchJourneys",
                "summary": "Search the journeys that ran, by status, journey, MPP, id and time, newest first",
                "description": (
                    "`GET /v1/journeys` lists the journey definitions; this lists the journeys started from them, "
                    "each as a summary (no result, the applicant as the masked NIK only): read one whole at `GET "
                    "/v1/journeys/{journey_id}`. A counter client finds the journeys it may read (its own, and its "
                    "MPP's); an operations client (role `ops`) finds every journey. A bad parameter is a 422 "
                    "problem whose `errors` name it as `query.<name>`."
                ),
                "tags": ["journeys"],
                "parameters": search_parameters(JOURNEY_SEARCH_PARAMETERS, JourneyStatus),
                "responses": {
                    "200": {
                        "description": "One page, newest first.",
                        "content": {"application/json": {"schema": page}},
                    },
                    **errors(401, 422, 500),
                },
            }
        },
        "/v1/journeys/{journey_id}/rating": {
            "post": {
                "operationId": "rateJourney",
                "summary": "The citizen's rating of a finished journey (SKM elements, 1-4), once",
                "description": (
                    "Rates the journey as one visit, on the elements of the public-service satisfaction survey "
                    f"(SKM, PermenPAN-RB 14/2017): {', '.join(SKM_ELEMENTS)}. No free text, nothing about the "
                    "person. A journey is rated once: the same scores sent again answer 200 with the rating kept, "
                    "other scores 409 `journey-already-rated`; a running journey 409 `journey-not-final`. The "
                    "service-level report counts it in the journey's MPP and in the agencies and services its "
                    "steps used."
                ),
                "tags": ["journeys"],
                "parameters": [{"name": "journey_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "201": {"description": "The rating, kept.", "content": {"application/json": {"schema": rating}}},
                    "200": {
                        "description": "The same rating was kept before (a retry).",
                        "content": {"application/json": {"schema": rating}},
                    },
                    **errors(400, 401, 404, 409, 413, 415, 422, 500, 503),
                },
            }
        },
    }
