"""The v1 API handlers: catalog, requests, health."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Any

import orjson
from aiohttp import web

from adapters import Registry
from contracts import (
    Attempt,
    Counter,
    FieldError,
    Problem,
    RequestRecord,
    Subject,
)

from ..audit import Auditor
from ..config import Settings
from ..dispatch import Dispatcher
from ..problems import ApiProblem
from ..service import Acceptance, Submission
from ..store import Store, StoredRequest
from ._connections import claim_event_stream
from ._edge import TRACE, client_of, public
from ._limits import MAX_JSON_DEPTH, duplicate_key, json_depth_exceeded, nul_field
from ._stream_auth import accepts_stream_token

__all__ = ["STATE", "GatewayState", "masked_record", "routes"]


_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)
_JSON_TYPES = ("application/json", "application/problem+json")


@dataclasses.dataclass
class GatewayState:
    """What the handlers work with, built once by the composition root."""

    settings: Settings
    store: Store
    registry: Registry
    dispatcher: Dispatcher
    catalog: bytes = b""
    services_json: dict[str, bytes] = dataclasses.field(default_factory=dict)
    auditor: Auditor = dataclasses.field(default_factory=Auditor.off)
    acceptance: Acceptance = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.acceptance = Acceptance(
            settings=self.settings,
            store=self.store,
            registry=self.registry,
            dispatcher=self.dispatcher,
            auditor=self.auditor,
        )

    def build_catalog(self) -> None:
        """Render the catalog once: JSON Schema generation is too costly for every call."""
        descriptors = [service.descriptor() for _, service in self.registry.services.values()]
        descriptors.sort(key=lambda d: d.id)
        self.services_json = {d.id: orjson.dumps(d.model_dump(mode="json")) for d in descriptors}
        self.catalog = b'{"services":[' + b",".join(self.services_json.values()) + b"]}"


STATE: web.AppKey[GatewayState] = web.AppKey("state", GatewayState)


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def prefer_wait(header: str | None, limit: float) -> float | None:
    """The ``wait`` preference of RFC 7240 in seconds, capped at ``limit``; ``None`` when absent."""
    if not header:
        return None
    match = _PREFER_WAIT.search(header)
    if match is None:
        return None
    return min(float(match.group(1)), limit)


def to_record(row: StoredRequest) -> RequestRecord:
    """The public view of a stored request."""
    return RequestRecord(
        id=row.id,
        service=row.service,
        agency=row.agency,
        status=row.status,
        client_id=row.client_id,
        counter=Counter(mpp_id=row.mpp_id, desk=row.desk, operator=row.operator),
        subject=Subject(nik_masked=row.nik_masked),
        result=row.result,
        agency_reference=row.agency_reference,
        problem=Problem.model_validate(row.problem) if row.problem else None,
        attempts=[
            Attempt(
                number=a.number, started_at=a.started_at, finished_at=a.finished_at, outcome=a.outcome, detail=a.detail
            )
            for a in row.attempts
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        trace_id=row.trace_id,
        purged_at=row.purged_at,
    )


def masked_record(row: StoredRequest) -> dict[str, Any]:
    """The record as an operations client sees it: no result, no agency reference, the applicant as the masked
    NIK only (the record never carries what the counter sent)."""
    masked = dataclasses.replace(row, envelope={}, result=None, agency_reference=None)
    return to_record(masked).model_dump(mode="json")


def _record_response(row: StoredRequest, status: int, headers: dict[str, str]) -> web.Response:
    body = orjson.dumps(to_record(row).model_dump(mode="json"))
    return _json(body, status, headers)


async def _read_json(request: web.Request) -> Any:
    if request.content_type not in _JSON_TYPES:
        raise ApiProblem("unsupported-media-type", "send the body as 'Content-Type: application/json'")
    body = await request.read()  # raises 413 past client_max_size
    if not body:
        raise ApiProblem("malformed-json", "the request body is empty")
    try:
        data = orjson.loads(body)
        too_deep = json_depth_exceeded(data)
    except orjson.JSONDecodeError as exc:
        # orjson stops at a depth bound of its own, far past ours: that body gets the same answer as any too deep.
        if not str(exc).startswith("depth limit"):
            raise ApiProblem("malformed-json", f"the body is not valid JSON (at character {exc.pos})") from None
        data, too_deep = None, True
    if too_deep:
        raise ApiProblem(
            "validation-error",
            f"the body nests objects and arrays more than {MAX_JSON_DEPTH} levels deep",
            errors=[FieldError(field="(body)", message=f"nested more than {MAX_JSON_DEPTH} levels deep")],
        )
    if (repeated := duplicate_key(body)) is not None:
        raise ApiProblem(
            "validation-error",
            "the body names a key twice in one object",
            errors=[FieldError(field=repeated, message="appears more than once in its object")],
        )
    # The escape is rare in real bodies, so the walk to name the field runs only when the bytes show one.
    if b"\\u0000" in body and (where := nul_field(data)) is not None:
        raise ApiProblem(
            "validation-error",
            "the body holds a NUL character",
            errors=[FieldError(field=where, message="must not contain NUL characters")],
        )
    return data


async def list_services(request: web.Request) -> web.Response:
    """``GET /v1/services``: the catalog."""
    return _json(request.app[STATE].catalog)


async def get_service(request: web.Request) -> web.Response:
    """``GET /v1/services/{id}``: one catalog entry."""
    body = request.app[STATE].services_json.get(request.match_info["service_id"])
    if body is None:
        raise ApiProblem("unknown-service", "no service with this id; see GET /v1/services")
    return _json(body)


async def create_request(request: web.Request) -> web.Response:
    """``POST /v1/requests``: validate, persist, dispatch, and answer at once or within ``Prefer: wait``."""
    state = request.app[STATE]
    submission = Submission(
        body=await _read_json(request),
        trace=request[TRACE],
        idempotency_key=request.headers.get("Idempotency-Key"),
        wait=prefer_wait(request.headers.get("Prefer"), state.settings.max_wait_seconds),
    )
    accepted = await state.acceptance.accept(client_of(request), submission)
    row = accepted.record
    headers = {"Location": f"/v1/requests/{row.id}"}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    if accepted.waited is not None:
        headers["Preference-Applied"] = f"wait={accepted.waited:g}"
    return _record_response(row, 200 if row.status.final else 202, headers)


async def get_request(request: web.Request) -> web.Response:
    """``GET /v1/requests/{id}``: the record, to the client or MPP that made it; masked, to an operations client."""
    state = request.app[STATE]
    client = client_of(request)
    row = await state.store.get(request.match_info["request_id"])
    if row is not None and client.is_ops and not client.may_read(row.client_id, row.mpp_id):
        await state.auditor.read(client, row)  # an operations client sees any request, masked
        return _json(orjson.dumps(masked_record(row)))
    if row is None or not client.may_read(row.client_id, row.mpp_id):
        await state.auditor.denied_read(client, row)
        raise ApiProblem("not-found", "no request with this id for this client")
    await state.auditor.read(client, row)
    return _record_response(row, 200, {})


@accepts_stream_token  # EventSource sends no Authorization header: POST .../stream-token, then ?token=
async def request_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/requests/{id}/events``: the record at each status change, as server-sent events."""
    state = request.app[STATE]
    client = client_of(request)
    claim_event_stream(request, state.dispatcher.hub, client.id)  # 429/503 past the stream caps
    request_id = request.match_info["request_id"]
    row = await state.store.get(request_id)
    if row is None or not client.may_read(row.client_id, row.mpp_id):
        await state.auditor.denied_read(client, row)
        raise ApiProblem("not-found", "no request with this id for this client")
    await state.auditor.read(client, row)  # one entry per stream: it shows the record as it changes
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    seen: tuple[str, Any] | None = None
    sequence = 0
    with state.dispatcher.hub.subscribe(request_id) as changes:
        while True:
            row = await state.store.get(request_id)
            if row is None:  # pragma: no cover - records are never deleted
                break
            if (row.status, row.updated_at) != seen:
                seen = (row.status, row.updated_at)
                sequence += 1
                data = orjson.dumps(to_record(row).model_dump(mode="json")).decode()
                await response.write(f"id: {request_id}:{sequence}\nevent: status\ndata: {data}\n\n".encode())
            if row.status.final:
                break
            try:
                # Changes made in this process arrive at once; another replica's show up on the next read.
                await asyncio.wait_for(changes.get(), timeout=state.settings.sweep_interval_seconds)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
    await response.write_eof()
    return response


async def list_agencies(request: web.Request) -> web.Response:
    """``GET /v1/agencies``: health, circuit state, latency and error figures per agency."""
    state = request.app[STATE]
    agencies = []
    for agency, adapter in sorted(state.registry.adapters.items()):
        agencies.append({**state.dispatcher.agency_health(agency), "name": adapter.agency_name or agency})
    body = {"agencies": agencies, "queue": {"local_depth": state.dispatcher.queue_depth(),
                                            "in_flight": state.dispatcher.in_flight()}}
    return _json(orjson.dumps(body))


@public
async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process is alive."""
    return _json(b'{"status":"ok"}')


@public
async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: the store answers and takes writes (none failed lately for want of space or write access),
    and adapters are loaded."""
    state = request.app[STATE]
    store_ok = await state.store.ping()
    adapters_ok = bool(state.registry.adapters)
    checks = {"store": store_ok, "adapters": sorted(state.registry.adapters)}
    if not (store_ok and adapters_ok):
        raise ApiProblem("not-ready", f"store reachable and writable: {store_ok}; adapters loaded: {adapters_ok}")
    return _json(orjson.dumps({"status": "ready", "checks": checks}))


def routes() -> list[web.AbstractRouteDef]:
    """The API's routes."""
    return [
        web.get("/v1/services", list_services),
        web.get("/v1/services/{service_id}", get_service),
        web.post("/v1/requests", create_request),
        web.get("/v1/requests/{request_id}", get_request),
        web.get("/v1/requests/{request_id}/events", request_events),
        web.get("/v1/agencies", list_agencies),
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
    ]
