"""Routes for operations clients only: the agencies and queue at a glance, and a recent request's trace.

``GET /v1/ops/overview``: per agency the circuit (and since when), the error rate and p50/p95 latency of the last
five minutes, calls in flight and waiting, the rate limit and the last failure's cause, from this process's
dispatcher (each process and replica protects its agencies on its own); the queue per agency and the failures of
the last hour by problem type, from the store (every replica's work).

``GET /v1/traces/{trace_id}``: the spans of a trace this process kept (:class:`gateway.telemetry.SpanBuffer`),
with a link into Jaeger when ``MPP_CONSOLE_JAEGER_URL`` is set.

Neither carries personal data: names of agencies and problem types, counts, times, causes in a few words, masked
span attributes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from contracts import FieldError

from ..problems import ApiProblem
from ..store import QueueFigures
from ._edge import TELEMETRY, ops_only
from ._handlers import STATE

__all__ = ["ops_paths", "ops_routes"]

#: How far back ``failures_last_hour`` looks.
FAILURE_WINDOW = dt.timedelta(hours=1)
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _agency(health: Mapping[str, Any]) -> dict[str, Any]:
    """One agency's row of the overview from its guard's figures (:meth:`AgencyGuard.snapshot`)."""
    return {
        "agency": health["agency"],
        "circuit": health.get("circuit", "closed"),
        "circuit_since": health.get("circuit_since"),
        "error_rate": health.get("error_rate_5m", 0.0),
        "p50_ms": health.get("p50_ms"),
        "p95_ms": health.get("p95_ms"),
        "in_flight": health.get("in_flight", 0),
        "waiting": health.get("waiting", 0),
        "rate_limit": health.get("rate_limit") or {},
        # The gateway knows no agency quota: an agency that has one says so by its answers (``http 429``).
        "quota": health.get("quota"),
        "last_failure": health.get("last_failure"),
    }


def _queue(figures: QueueFigures, now: dt.datetime) -> dict[str, Any]:
    oldest = figures.oldest_at
    return {
        "agency": figures.agency,
        "depth": figures.depth,
        "oldest_age_seconds": None if oldest is None else round(max(0.0, (now - oldest).total_seconds()), 1),
        "deferred": figures.deferred,
        "next_try_at": _iso(figures.next_try_at),
    }


@ops_only
async def ops_overview(request: web.Request) -> web.Response:
    """``GET /v1/ops/overview``: agencies, queue and the last hour's failures (see the module's docstring)."""
    state = request.app[STATE]
    now = dt.datetime.now(dt.UTC)
    queued, failures = await asyncio.gather(
        state.store.queue_by_agency(), state.store.failures_since(now - FAILURE_WINDOW)
    )
    loaded = sorted(state.registry.adapters)
    by_agency = {f.agency: f for f in queued}
    queue = [_queue(by_agency.pop(a, QueueFigures(a, 0, None, 0, None)), now) for a in loaded]
    queue += [_queue(f, now) for f in by_agency.values()]  # work of an agency this process does not load
    body = {
        "generated_at": now.isoformat(),
        "agencies": [_agency(state.dispatcher.agency_health(a)) for a in loaded],
        "queue": queue,
        "failures_last_hour": failures,
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


@ops_only
async def get_trace(request: web.Request) -> web.Response:
    """``GET /v1/traces/{trace_id}``: the spans this process kept of the trace, or a ``not-found`` problem."""
    trace_id = request.match_info["trace_id"].lower()
    if not _TRACE_ID.fullmatch(trace_id) or trace_id == "0" * 32:
        raise ApiProblem(
            "validation-error",
            "a trace id is 32 hexadecimal digits, not all zero",
            errors=[FieldError(field="path.trace_id", message="must be 32 hexadecimal digits, not all zero")],
        )
    buffer = request.app[TELEMETRY].spans
    spans = buffer.trace(trace_id) if buffer is not None else None
    if spans is None:
        raise ApiProblem(
            "not-found",
            f"no span of trace {trace_id} is kept here: this process keeps its most recent spans only",
        )
    jaeger = request.app[STATE].settings.console_jaeger_url
    body = {
        "trace_id": trace_id,
        "spans": spans,
        "jaeger_url": f"{jaeger.rstrip('/')}/trace/{trace_id}" if jaeger else None,
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def ops_routes() -> list[web.AbstractRouteDef]:
    """The routes of this module."""
    return [web.get("/v1/ops/overview", ops_overview), web.get("/v1/traces/{trace_id}", get_trace)]


# ---- OpenAPI ---------------------------------------------------------------------------------------------------

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_MS = {"type": ["number", "null"]}


def _problems(**texts: str) -> dict[str, Any]:
    return {code.lstrip("_"): {"description": text, "content": _PROBLEM} for code, text in texts.items()}


_OPS_ERRORS = _problems(
    _401="Missing or unknown credentials.",
    _403="The client is not an operations client (no ops role).",
    _429="This client's request rate is exceeded; Retry-After says when to try again.",
    _500="Unexpected error (identified by trace_id).",
)

_AGENCY = {
    "type": "object",
    "required": ["agency", "circuit", "circuit_since", "error_rate", "p50_ms", "p95_ms", "in_flight", "waiting",
                 "rate_limit", "quota", "last_failure"],
    "properties": {
        "agency": {"type": "string"},
        "circuit": {"enum": ["closed", "open", "half_open"]},
        "circuit_since": {**_NULLABLE_TIME, "description": "When the circuit entered its state; null: closed since "
                          "the process started."},
        "error_rate": {"type": "number", "description": "Failed calls over calls in the last 5 minutes."},
        "p50_ms": {**_NULLABLE_MS, "description": "Median call duration in the last 5 minutes."},
        "p95_ms": {**_NULLABLE_MS, "description": "95th percentile call duration in the last 5 minutes."},
        "in_flight": {"type": "integer"},
        "waiting": {"type": "integer", "description": "Requests waiting for one of the agency's permits."},
        "rate_limit": {"type": "object", "description": "per_second, burst and the tokens available now; empty "
                       "when the agency has no rate limit."},
        "quota": {"type": ["object", "null"]},
        "last_failure": {
            "type": ["object", "null"],
            "properties": {"at": {"type": "string", "format": "date-time"}, "cause": {"type": "string"},
                           "problem": {"type": "string"}},
        },
    },
}  # fmt: skip
_QUEUE = {
    "type": "object",
    "required": ["agency", "depth", "oldest_age_seconds", "deferred", "next_try_at"],
    "properties": {
        "agency": {"type": "string"},
        "depth": {"type": "integer", "description": "Requests accepted or in progress."},
        "oldest_age_seconds": _NULLABLE_MS,
        "deferred": {"type": "integer", "description": "Requests whose next try is still ahead."},
        "next_try_at": _NULLABLE_TIME,
    },
}
_SPAN = {
    "type": "object",
    "required": ["span_id", "parent_span_id", "name", "kind", "start", "end", "duration_ms", "status", "attributes",
                 "events"],
    "properties": {
        "span_id": {"type": "string"},
        "parent_span_id": {"type": ["string", "null"]},
        "name": {"type": "string"},
        "kind": {"enum": ["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "duration_ms": {"type": "number"},
        "status": {"enum": ["UNSET", "OK", "ERROR"]},
        "attributes": {"type": "object"},
        "events": {"type": "array", "items": {"type": "object", "required": ["name", "at", "attributes"]}},
    },
}  # fmt: skip


def ops_paths() -> dict[str, Any]:
    """The OpenAPI description of this module's routes."""
    overview = {
        "type": "object",
        "required": ["generated_at", "agencies", "queue", "failures_last_hour"],
        "properties": {
            "generated_at": {"type": "string", "format": "date-time"},
            "agencies": {"type": "array", "items": _AGENCY},
            "queue": {"type": "array", "items": _QUEUE},
            "failures_last_hour": {"type": "object", "additionalProperties": {"type": "integer"},
                                   "description": "Requests failed in the last hour, by problem type slug."},
        },
    }  # fmt: skip
    trace = {
        "type": "object",
        "required": ["trace_id", "spans", "jaeger_url"],
        "properties": {
            "trace_id": {"type": "string"},
            "spans": {"type": "array", "items": _SPAN},
            "jaeger_url": {"type": ["string", "null"]},
        },
    }
    return {
        "/v1/ops/overview": {
            "get": {
                "operationId": "opsOverview",
                "summary": "Operations clients: agencies (circuit, error rate, latency, last failure), queue per "
                "agency and failures of the last hour",
                "tags": ["operations"],
                "responses": {
                    "200": {"description": "The overview.", "content": {"application/json": {"schema": overview}}},
                    **_OPS_ERRORS,
                },
            }
        },
        "/v1/traces/{trace_id}": {
            "get": {
                "operationId": "getTrace",
                "summary": "Operations clients: the spans of a recent trace this process kept (masked attributes)",
                "tags": ["operations"],
                "parameters": [
                    {"name": "trace_id", "in": "path", "required": True,
                     "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}}
                ],
                "responses": {
                    "200": {"description": "The trace.", "content": {"application/json": {"schema": trace}}},
                    **_OPS_ERRORS,
                    **_problems(
                        _404="No span of this trace is kept by this process (recent spans only).",
                        _422="Not a trace id: 'errors' names path.trace_id.",
                    ),
                },
            }
        },
    }
