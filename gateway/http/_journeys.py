"""The journeys API: the catalog of journeys, starting one, reading it, its events, resuming and cancelling it.

The routes speak HTTP only: they parse and check the body against the contract (:class:`contracts.JourneyRequest`,
:class:`contracts.JourneyStepResume`), answer every refusal with a problem naming the field, and leave the rest
(grants, MPP scoping, consent, the payload schema, idempotency, running the steps) to the journeys service the
composition root puts on the app as :data:`JOURNEYS`. Without one, every route answers ``404 not-found``.

``Prefer: wait=N`` and ``Idempotency-Key`` work as for ``POST /v1/requests``; the event stream is capped and opened
by a stream token as the request's is.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, Protocol, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from contracts import (
    FieldError,
    JourneyDescriptor,
    JourneyRecord,
    JourneyRequest,
    JourneyStepResume,
    contains_nik_like,
)

from ..problems import ApiProblem
from ..security import CallbackPolicy, CallbackRefused, Client
from ..service import field_errors
from ._connections import claim_event_stream
from ._edge import TRACE, client_of
from ._handlers import STATE, _read_json, prefer_wait
from ._stream_auth import STREAM_TOKENS, accepts_stream_token

__all__ = [
    "JOURNEYS",
    "JOURNEY_MODELS",
    "JourneyCatalogView",
    "JourneyService",
    "journey_paths",
    "journey_routes",
]

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_M = TypeVar("_M", bound=BaseModel)
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class JourneyCatalogView(Protocol):
    """What the routes read of the journey catalog."""

    def descriptors(self) -> list[JourneyDescriptor]:
        """Every journey this gateway runs, as ``GET /v1/journeys`` lists it."""
        ...


class JourneyService(Protocol):
    """The journeys service the routes call (:class:`gateway.journeys.Journeys`); each method raises
    :class:`~gateway.problems.ApiProblem` for what it refuses: reading answers ``None`` for a journey the client may
    not see, resume and cancel raise ``not-found``."""

    @property
    def catalog(self) -> JourneyCatalogView: ...

    async def start(
        self, client: Client, request: JourneyRequest, *, idempotency_key: str | None, traceparent: str | None
    ) -> JourneyRecord: ...

    async def get(self, client: Client, journey_id: str) -> JourneyRecord | None: ...

    async def wait(
        self, client: Client, journey_id: str, timeout: float  # noqa: ASYNC109 - bounds the wait, not the call
    ) -> JourneyRecord | None: ...

    async def resume(self, client: Client, journey_id: str, resume: JourneyStepResume) -> JourneyRecord: ...

    async def cancel(self, client: Client, journey_id: str) -> JourneyRecord: ...

    def changes(self, client: Client, journey_id: str) -> AsyncIterator[JourneyRecord]: ...


JOURNEYS: web.AppKey[JourneyService] = web.AppKey("journeys")


def _service(request: web.Request) -> JourneyService:
    journeys = request.app.get(JOURNEYS)
    if journeys is None:
        raise ApiProblem("not-found", "this gateway runs no journeys")
    return journeys


def _not_found() -> ApiProblem:
    return ApiProblem("not-found", "no journey with this id for this client")


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _record_response(record: JourneyRecord, headers: dict[str, str] | None = None) -> web.Response:
    """``200`` with a final record, ``202`` with ``Location`` while it runs: the status follows the record."""
    out = dict(headers or {})
    status = 200
    if not record.status.final:
        status = 202
        out["Location"] = f"/v1/journeys/{record.id}"
    return _json(orjson.dumps(record.model_dump(mode="json")), status, out)


def _validated(model: type[_M], data: Any) -> _M:
    """``data`` as ``model``, or a ``validation-error`` problem naming each field (never echoing a value)."""
    if not isinstance(data, dict):
        raise ApiProblem(
            "validation-error",
            "the body must be a JSON object",
            errors=[FieldError(field="(body)", message="must be a JSON object")],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors(include_url=False, include_input=False))
        raise ApiProblem("validation-error", f"{len(errors)} field(s) break the contract", errors=errors) from None


def _idempotency_key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header under the rules of ``POST /v1/requests``: visible ASCII, no NIK in clear."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise ApiProblem(
            "validation-error",
            "Idempotency-Key must be 1-255 visible ASCII characters",
            errors=[FieldError(field="Idempotency-Key", message="1-255 visible ASCII characters")],
        )
    if contains_nik_like(key):
        raise ApiProblem(
            "validation-error",
            "Idempotency-Key must not contain a NIK-like number: the key is stored and audited in clear",
            errors=[FieldError(field="Idempotency-Key", message="must not contain a NIK-like number (16 digits)")],
        )
    return key


def _check_callback(request: web.Request, client: Client, journey: JourneyRequest) -> None:
    """A ``callback_url`` the client can be called at: it has a webhook secret, and the URL passes the policy."""
    if journey.callback_url is None:
        return
    if not client.webhook_secret:
        raise ApiProblem(
            "validation-error",
            "this client has no webhook secret configured, so it cannot receive callbacks",
            errors=[FieldError(field="callback_url", message="no webhook secret for this client")],
        )
    try:
        CallbackPolicy.from_settings(request.app[STATE].settings).check(
            str(journey.callback_url), client.callback_origins
        )
    except CallbackRefused as exc:
        raise ApiProblem(
            "validation-error", f"callback_url {exc}", errors=[FieldError(field="callback_url", message=str(exc))]
        ) from None


async def _waited(
    request: web.Request, journeys: JourneyService, client: Client, record: JourneyRecord
) -> tuple[JourneyRecord, dict[str, str]]:
    """The record after the ``Prefer: wait`` the client asked for (capped as for requests), and the header saying
    the wait was honoured."""
    wait = prefer_wait(request.headers.get("Prefer"), request.app[STATE].settings.max_wait_seconds)
    if wait is None:
        return record, {}
    if not record.status.final and wait > 0:
        record = await journeys.wait(client, record.id, wait) or record
    return record, {"Preference-Applied": f"wait={wait:g}"}


async def list_journeys(request: web.Request) -> web.Response:
    """``GET /v1/journeys``: every journey this gateway runs, with titles, steps and schemas."""
    descriptors = _service(request).catalog.descriptors()
    body = [d.model_dump(mode="json") for d in sorted(descriptors, key=lambda d: d.id)]
    return _json(orjson.dumps({"journeys": body}))


async def start_journey(request: web.Request) -> web.Response:
    """``POST /v1/journeys``: check the body, start the journey, answer at once or within ``Prefer: wait``."""
    journeys = _service(request)
    client = client_of(request)
    journey = _validated(JourneyRequest, await _read_json(request))
    key = _idempotency_key(request)
    _check_callback(request, client, journey)
    record = await journeys.start(client, journey, idempotency_key=key, traceparent=request[TRACE].traceparent)
    record, headers = await _waited(request, journeys, client, record)
    return _record_response(record, headers)


async def get_journey(request: web.Request) -> web.Response:
    """``GET /v1/journeys/{id}``: the journey and each step, to the client or MPP that started it."""
    record = await _service(request).get(client_of(request), request.match_info["journey_id"])
    if record is None:
        raise _not_found()
    return _json(orjson.dumps(record.model_dump(mode="json")))


@accepts_stream_token  # EventSource sends no Authorization header: POST .../stream-token, then ?token=
async def journey_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/journeys/{id}/events``: the record now and at each change, as server-sent events, until final."""
    journeys = _service(request)
    state = request.app[STATE]
    client = client_of(request)
    claim_event_stream(request, state.dispatcher.hub, client.id)  # 429/503 past the stream caps
    journey_id = request.match_info["journey_id"]
    if await journeys.get(client, journey_id) is None:
        raise _not_found()
    response = web.StreamResponse(headers=_SSE_HEADERS)
    await response.prepare(request)
    changes = journeys.changes(client, journey_id)
    sequence = 0
    pending: asyncio.Task[JourneyRecord] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(changes))
            done, _ = await asyncio.wait((pending,), timeout=state.settings.sweep_interval_seconds)
            if not done:
                await response.write(b": keep-alive\n\n")
                continue
            try:
                record = pending.result()
            except StopAsyncIteration:
                break
            pending = None
            sequence += 1
            data = orjson.dumps(record.model_dump(mode="json")).decode()
            await response.write(f"id: {journey_id}:{sequence}\nevent: status\ndata: {data}\n\n".encode())
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(changes, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.write_eof()
    return response


async def issue_journey_stream_token(request: web.Request) -> web.Response:
    """``POST /v1/journeys/{id}/stream-token``: a token opening the journey's event stream once, shortly."""
    journeys = _service(request)
    client = client_of(request)
    journey_id = request.match_info["journey_id"]
    if await journeys.get(client, journey_id) is None:
        raise _not_found()
    issued = request.app[STREAM_TOKENS].issue(client.id, journey_id)
    body = {
        "token": issued.token,
        "expires_in": max(0, round(issued.expires_in)),
        "events_url": f"/v1/journeys/{journey_id}/events?token={issued.token}",
    }
    return web.Response(body=orjson.dumps(body), content_type="application/json", headers={"Cache-Control": "no-store"})


async def resume_journey(request: web.Request) -> web.Response:
    """``POST /v1/journeys/{id}/resume``: run a failed or rejected step again, with corrected input."""
    journeys = _service(request)
    client = client_of(request)
    resume = _validated(JourneyStepResume, await _read_json(request))
    record = await journeys.resume(client, request.match_info["journey_id"], resume)  # 404 when not the client's
    record, headers = await _waited(request, journeys, client, record)
    return _record_response(record, headers)


async def cancel_journey(request: web.Request) -> web.Response:
    """``POST /v1/journeys/{id}/cancel``: stop a running journey; steps not yet final are cancelled."""
    journeys = _service(request)
    client = client_of(request)
    record = await journeys.cancel(client, request.match_info["journey_id"])  # 404 when not the client's
    return _json(orjson.dumps(record.model_dump(mode="json")))


def journey_routes() -> list[web.RouteDef]:
    """The journeys API's routes; they call the service the app holds as :data:`JOURNEYS`."""
    return [
        web.get("/v1/journeys", list_journeys),
        web.post("/v1/journeys", start_journey),
        web.get("/v1/journeys/{journey_id}", get_journey),
        web.get("/v1/journeys/{journey_id}/events", journey_events),
        web.post("/v1/journeys/{journey_id}/stream-token", issue_journey_stream_token),
        web.post("/v1/journeys/{journey_id}/resume", resume_journey),
        web.post("/v1/journeys/{journey_id}/cancel", cancel_journey),
    ]


#: The contract models the journeys API reads (``validation``) and writes (``serialization``).
JOURNEY_MODELS: tuple[tuple[type[BaseModel], Literal["validation", "serialization"]], ...] = (
    (JourneyRequest, "validation"),
    (JourneyStepResume, "validation"),
    (JourneyRecord, "serialization"),
    (JourneyDescriptor, "serialization"),
)


def journey_paths(errors: Callable[..., dict[str, Any]], problem: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI path items of :func:`journey_routes`; ``errors(*codes)`` and ``problem(text)`` describe problem
    responses as the rest of the document does, and :data:`JOURNEY_MODELS` are among its schemas."""
    ref = "#/components/schemas/{}".format
    record = {"application/json": {"schema": {"$ref": ref("JourneyRecord")}}}
    journey_id = {"name": "journey_id", "in": "path", "required": True, "schema": {"type": "string"}}
    prefer = {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}, "example": "wait=10"}
    idempotency_key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the same key and body answer with the same journey, started once.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
        "example": "loket-07-2026-11-22-0042",
    }
    answered = {
        "200": {"description": "Final (within the wait, if one was asked): the record.", "content": record},
        "202": {
            "description": "Running; poll `Location` or open its events.",
            "headers": {"Location": {"schema": {"type": "string"}}},
            "content": record,
        },
    }
    catalog = {
        "type": "object",
        "required": ["journeys"],
        "properties": {"journeys": {"type": "array", "items": {"$ref": ref("JourneyDescriptor")}}},
    }
    token = {
        "type": "object",
        "required": ["token", "expires_in", "events_url"],
        "properties": {
            "token": {"type": "string"},
            "expires_in": {"type": "integer"},
            "events_url": {"type": "string"},
        },
    }
    return {
        "/v1/journeys": {
            "get": {
                "operationId": "listJourneys",
                "summary": "The journeys this gateway runs: steps, titles (id/en), payload and result schemas",
                "tags": ["journeys"],
                "responses": {
                    "200": {
                        "description": "Every journey, with its steps and schemas.",
                        "content": {"application/json": {"schema": catalog}},
                    },
                    **errors(401, 404, 500),
                },
            },
            "post": {
                "operationId": "startJourney",
                "summary": "Start a journey: several agencies' services for one citizen, as one durable unit",
                "description": (
                    "The applicant, counter and consent are given once and hold for every step; `payload` is checked "
                    "against the journey's `payload_schema`. The client must be granted every step's service. With "
                    "`Prefer: wait=N` (RFC 7240) the gateway answers 200 with the final record if the journey "
                    "ended within N seconds, else 202 with `Location`."
                ),
                "tags": ["journeys"],
                "parameters": [prefer, idempotency_key],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": ref("JourneyRequest")}}},
                },
                "responses": {**answered, **errors(400, 401, 403, 404, 413, 415, 422, 500, 503)},
            },
        },
        "/v1/journeys/{journey_id}": {
            "get": {
                "operationId": "getJourney",
                "summary": "A journey's record: its status and each step's status, result, problem and attempts",
                "tags": ["journeys"],
                "parameters": [journey_id],
                "responses": {"200": {"description": "The record.", "content": record}, **errors(401, 404, 500)},
            }
        },
        "/v1/journeys/{journey_id}/events": {
            "get": {
                "operationId": "getJourneyEvents",
                "summary": "The journey's record now and at each change, as server-sent events (ends when final)",
                "description": (
                    "A browser's `EventSource` opens this with `?token=`, a stream token from "
                    "`POST /v1/journeys/{journey_id}/stream-token` (valid once, for this journey only)."
                ),
                "tags": ["journeys"],
                "parameters": [journey_id],
                "security": [{"apiKey": []}, {"streamToken": []}],
                "responses": {
                    "200": {
                        "description": "`event: status` with the record as `data`, one per change.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **errors(401, 404, 500),
                    "429": problem(
                        "This client's request rate is exceeded, or it holds as many event streams as it may "
                        "(too-many-event-streams); Retry-After says when to try again."
                    ),
                    "503": problem(
                        "This replica holds as many event streams as it serves (event-streams-full); see Retry-After."
                    ),
                },
            }
        },
        "/v1/journeys/{journey_id}/stream-token": {
            "post": {
                "operationId": "createJourneyStreamToken",
                "summary": "A stream token: opens the journey's event stream once, within about a minute",
                "tags": ["journeys"],
                "parameters": [journey_id],
                "responses": {
                    "200": {
                        "description": "The token, the seconds it is valid for, and the stream's URL carrying it.",
                        "content": {"application/json": {"schema": token}},
                    },
                    **errors(401, 404, 500),
                },
            }
        },
        "/v1/journeys/{journey_id}/resume": {
            "post": {
                "operationId": "resumeJourney",
                "summary": "Run a failed journey's failed or rejected step again, with corrected input",
                "description": (
                    "`payload` replaces the named fields of the step's payload; the journey runs on from there. "
                    "`Prefer: wait=N` as for starting one."
                ),
                "tags": ["journeys"],
                "parameters": [journey_id, prefer],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": ref("JourneyStepResume")}}},
                },
                "responses": {
                    **answered,
                    **errors(400, 401, 403, 404, 413, 415, 422, 500),
                    "409": problem("The journey is not failed, or the step did not fail (journey-not-resumable)."),
                },
            }
        },
        "/v1/journeys/{journey_id}/cancel": {
            "post": {
                "operationId": "cancelJourney",
                "summary": "Cancel a running journey: steps not yet final are cancelled, none is started",
                "tags": ["journeys"],
                "parameters": [journey_id],
                "responses": {
                    "200": {"description": "The cancelled journey's record.", "content": record},
                    **errors(401, 404, 500),
                    "409": problem("The journey has ended already (journey-final)."),
                },
            }
        },
    }
