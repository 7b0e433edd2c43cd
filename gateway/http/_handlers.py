"""The v1 API handlers: catalog, requests, health."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import re
import time
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from adapters import Registry
from contracts import (
    SERVICE_ID_PATTERN,
    Attempt,
    Counter,
    FieldError,
    Problem,
    RequestRecord,
    RequestStatus,
    ServiceKind,
    ServiceRequest,
    Subject,
    mask_nik,
)

from ..audit import Auditor
from ..config import Settings
from ..dispatch import Dispatcher
from ..problems import ApiProblem
from ..store import IdempotencyMismatch, NewRequest, Store, StoredRequest, new_request_id
from ._edge import TRACE, client_of
from ._limits import MAX_JSON_DEPTH, json_depth_exceeded, nul_field

__all__ = ["STATE", "GatewayState", "routes"]

log = structlog.get_logger("gateway.api")

_SERVICE_ID = re.compile(SERVICE_ID_PATTERN)
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)
_JSON_TYPES = ("application/json", "application/problem+json")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


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

    def build_catalog(self) -> None:
        """Render the catalog once: JSON Schema generation is too costly for every call."""
        descriptors = [service.descriptor() for _, service in self.registry.services.values()]
        descriptors.sort(key=lambda d: d.id)
        self.services_json = {d.id: orjson.dumps(d.model_dump(mode="json")) for d in descriptors}
        self.catalog = b'{"services":[' + b",".join(self.services_json.values()) + b"]}"


STATE: web.AppKey[GatewayState] = web.AppKey("state", GatewayState)


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def field_errors(errors: Sequence[ErrorDetails], prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """Pydantic errors as field paths and messages, never echoing the submitted value."""
    out = []
    for err in errors:
        loc = [*prefix, *err["loc"]]
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        out.append(FieldError(field=".".join(str(p) for p in loc) or "(body)", message=message))
    return out


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
    client = client_of(request)
    data = await _read_json(request)
    if not isinstance(data, dict):
        raise ApiProblem(
            "validation-error",
            "the body must be a JSON object",
            errors=[FieldError(field="(body)", message="must be a JSON object")],
        )
    service_id = data.get("service")
    if isinstance(service_id, str) and _SERVICE_ID.match(service_id) and service_id not in state.registry.services:
        raise ApiProblem(
            "unknown-service",
            "no service with this id; see GET /v1/services",
            errors=[FieldError(field="service", message="unknown service")],
        )
    errors: list[FieldError] = []
    envelope: ServiceRequest | None = None
    try:
        envelope = ServiceRequest.model_validate(data)
    except ValidationError as exc:
        errors.extend(field_errors(exc.errors(include_url=False, include_input=False)))
    entry = state.registry.services.get(service_id) if isinstance(service_id, str) else None
    payload = None
    if entry is not None and isinstance(data.get("payload", {}), dict):
        try:
            payload = entry[1].payload_model.model_validate(data.get("payload", {}))
        except ValidationError as exc:
            errors.extend(field_errors(exc.errors(include_url=False, include_input=False), ("payload",)))
    if errors or envelope is None or entry is None or payload is None:
        raise ApiProblem("validation-error", f"{len(errors)} field(s) break the contract", errors=errors)
    adapter, service = entry
    if not client.may_use(service.id):
        await state.auditor.denied(client, service.id, envelope, "service-not-granted")
        raise ApiProblem("forbidden", "this client is not granted the service")
    if not client.may_act_for(envelope.counter.mpp_id):
        await state.auditor.denied(client, service.id, envelope, "mpp-not-granted")
        raise ApiProblem(
            "forbidden",
            "this client may not act for that MPP",
            errors=[FieldError(field="counter.mpp_id", message="not this client's MPP")],
        )
    if service.personal_data and envelope.consent is None:
        raise ApiProblem(
            "consent-required",
            "this service reads personal data: include the citizen's consent",
            errors=[FieldError(field="consent", message="required for this service")],
        )
    if envelope.callback_url is not None and not client.webhook_secret:
        raise ApiProblem(
            "validation-error",
            "this client has no webhook secret configured, so it cannot receive callbacks",
            errors=[FieldError(field="callback_url", message="no webhook secret for this client")],
        )
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise ApiProblem("validation-error", "Idempotency-Key must be 1-255 visible ASCII characters",
                         errors=[FieldError(field="Idempotency-Key", message="1-255 visible ASCII characters")])
    if service.kind is ServiceKind.SUBMISSION and idempotency_key is None:
        raise ApiProblem("idempotency-key-required", "send an Idempotency-Key header with every submission")
    guard = state.dispatcher.guards.get(adapter.agency)
    if service.kind is ServiceKind.LOOKUP and guard is not None and guard.breaker.state.value == "open":
        retry_after = max(1, round(guard.breaker.retry_after()))
        guard.fast_failures += 1
        raise ApiProblem(
            "agency-unavailable",
            f"{adapter.agency} is unavailable (circuit open); try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    settings = state.settings
    wait = prefer_wait(request.headers.get("Prefer"), settings.max_wait_seconds)
    now = dt.datetime.now(dt.UTC)
    lifetime = (
        settings.submission_deadline_seconds
        if service.kind is ServiceKind.SUBMISSION
        else settings.lookup_deadline_seconds
    )
    trace = request[TRACE]
    stored_envelope = envelope.model_dump(mode="json", exclude={"service", "counter", "payload"})
    stored_envelope["payload"] = payload.model_dump(mode="json")
    new = NewRequest(
        id=new_request_id(),
        client_id=client.id,
        service=service.id,
        agency=adapter.agency,
        kind=service.kind,
        mpp_id=envelope.counter.mpp_id,
        desk=envelope.counter.desk,
        operator=envelope.counter.operator,
        nik_masked=mask_nik(envelope.applicant.nik),
        envelope=stored_envelope,
        trace_id=trace.trace_id,
        traceparent=trace.traceparent,
        created_at=now,
        deadline_at=time.time() + lifetime,
    )
    idempotency = None
    if idempotency_key is not None:
        canonical = orjson.dumps(
            {"service": service.id, "counter": envelope.counter.model_dump(mode="json"), **stored_envelope},
            option=orjson.OPT_SORT_KEYS,
        )
        idempotency = (idempotency_key, hashlib.sha256(canonical).hexdigest())
    dispatcher = state.dispatcher
    # With a worker free, the request is stored already claimed and run at once: no queue, no second write.
    lease = (dispatcher.owner, dispatcher.lease_seconds) if dispatcher.can_run_now() else None
    pending: asyncio.Task[str | None] | None = None
    try:
        if lease is not None and idempotency is None and service.kind is ServiceKind.LOOKUP:
            # A lookup changes nothing at the agency, so its call may overlap the commit of its acceptance: the
            # run's writes, and the answer, wait for that commit.
            pending = asyncio.ensure_future(state.store.insert(new, lease=lease))
            existing = None
        else:
            existing = await state.store.insert(new, idempotency=idempotency, lease=lease)
    except IdempotencyMismatch:
        raise ApiProblem(
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request",
            errors=[FieldError(field="Idempotency-Key", message="already names a different request")],
        ) from None
    headers = {}
    if existing is not None:
        # A retry from the counter: the same request, not a second one.
        structlog.contextvars.bind_contextvars(request_id=existing, service=service.id, agency=adapter.agency)
        headers = {"Location": f"/v1/requests/{existing}", "Idempotent-Replayed": "true"}
        row = await state.store.get(existing)
        if row is None:  # pragma: no cover - a key always names a stored request
            raise RuntimeError("idempotency key names a missing request")
        await state.auditor.read(client, row)  # a replay hands the result out again
        return _record_response(row, 200 if row.status.final else 202, headers)
    structlog.contextvars.bind_contextvars(request_id=new.id, service=service.id, agency=adapter.agency)
    log.info("request.accepted", mpp=new.mpp_id, desk=new.desk)
    state.auditor.accepted(new, envelope.applicant.nik)  # queued before the run can record anything of it
    headers["Location"] = f"/v1/requests/{new.id}"
    if lease is not None:
        run = dispatcher.run_claimed(_claimed(new, lease), payload, stored=pending)
        if wait is not None:
            headers["Preference-Applied"] = f"wait={wait:g}"
            await asyncio.wait((run,), timeout=wait)
        if pending is not None:
            await pending
        finished = run.result() if run.done() and not run.cancelled() else None
        if finished is not None and finished.status.final:
            return _record_response(finished, 200, headers)
        return await _stored_response(state.store, new.id, headers)
    waiter = dispatcher.waiter(new.id) if wait else None
    dispatcher.submit(new.id)
    if waiter is not None and wait is not None:
        headers["Preference-Applied"] = f"wait={wait:g}"
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=wait)
        except TimeoutError:
            pass
        finally:
            dispatcher.forget(new.id, waiter)
    return await _stored_response(state.store, new.id, headers)


def _claimed(new: NewRequest, lease: tuple[str, float]) -> StoredRequest:
    """The request as the store holds it after an insert under ``lease``."""
    return StoredRequest(
        id=new.id, client_id=new.client_id, service=new.service, agency=new.agency, kind=new.kind,
        status=RequestStatus.IN_PROGRESS, mpp_id=new.mpp_id, desk=new.desk, operator=new.operator,
        nik_masked=new.nik_masked, envelope=new.envelope, result=None, agency_reference=None, problem=None,
        trace_id=new.trace_id, traceparent=new.traceparent, created_at=new.created_at, updated_at=new.created_at,
        finished_at=None, deadline_at=new.deadline_at, lease_owner=lease[0], lease_expires=time.time() + lease[1],
        attempt_count=0,
    )  # fmt: skip


async def _stored_response(store: Store, request_id: str, headers: dict[str, str]) -> web.Response:
    row = await store.get(request_id)
    if row is None:  # pragma: no cover - the insert above is durable
        raise RuntimeError("request vanished after insert")
    return _record_response(row, 200 if row.status.final else 202, headers)


async def get_request(request: web.Request) -> web.Response:
    """``GET /v1/requests/{id}``: the record, to the client or MPP that made it."""
    state = request.app[STATE]
    client = client_of(request)
    row = await state.store.get(request.match_info["request_id"])
    if row is None or not client.may_read(row.client_id, row.mpp_id):
        await state.auditor.denied_read(client, row)
        raise ApiProblem("not-found", "no request with this id for this client")
    await state.auditor.read(client, row)
    return _record_response(row, 200, {})


async def request_events(request: web.Request) -> web.StreamResponse:
    """``GET /v1/requests/{id}/events``: the record at each status change, as server-sent events."""
    state = request.app[STATE]
    client = client_of(request)
    request_id = request.match_info["request_id"]
    row = await state.store.get(request_id)
    if row is None or not client.may_read(row.client_id, row.mpp_id):
        raise ApiProblem("not-found", "no request with this id for this client")
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
        guard = state.dispatcher.guards.get(agency)
        figures = guard.snapshot() if guard is not None else {"agency": agency}
        agencies.append({**figures, "name": adapter.agency_name or agency})
    body = {"agencies": agencies, "queue": {"local_depth": state.dispatcher.queue_depth(),
                                            "in_flight": state.dispatcher.in_flight()}}
    return _json(orjson.dumps(body))


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: the process is alive."""
    return _json(b'{"status":"ok"}')


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: the store answers and adapters are loaded."""
    state = request.app[STATE]
    store_ok = await state.store.ping()
    adapters_ok = bool(state.registry.adapters)
    checks = {"store": store_ok, "adapters": sorted(state.registry.adapters)}
    if not (store_ok and adapters_ok):
        raise ApiProblem("not-ready", f"store reachable: {store_ok}; adapters loaded: {adapters_ok}")
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
