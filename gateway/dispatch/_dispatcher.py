"""The dispatcher: takes accepted requests under a lease, runs them (:mod:`gateway.dispatch._execution`), and records
every attempt and the outcome.

Requests reach it two ways: the API hands over a request it just stored claimed (or the id of one it queued), and a
sweeper finds requests nobody is working on (after a restart, when a lease expired, or when a deferred submission is
due). A claim in the store is the only thing that lets this process run a request, so an id queued twice still runs
once.

Every run takes one of its agency's permits first (:class:`~gateway.dispatch._guard.Permits`), and one of the
process's ``concurrency`` slots only after that: a run waiting for a slow agency holds nothing other agencies' work
needs. An agency whose permits are all held and whose line is full is saturated: the API refuses lookups for it,
and queued work for it goes back to the store for a while instead of waiting in memory.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode, get_current_span
from pydantic import BaseModel, ValidationError

from adapters import Registry
from contracts import RequestStatus, ServiceKind

from ..audit import Auditor
from ..problems import DEFAULT_PROBLEMS, ProblemCatalog
from ..store import (
    CIRCUIT_HEARTBEAT_SECONDS,
    CircuitTransition,
    NewWebhook,
    ReportStore,
    RequestStore,
    StoredAttempt,
    StoredRequest,
    new_request_id,
)
from ..telemetry import Telemetry, ids
from ._events import EventHub
from ._execution import Execution, Verdict
from ._guard import AgencyGuard, AgencyPolicy, BreakerState, Permits
from ._retry import DEFAULT_POLICIES, RetryPolicy

__all__ = ["Dispatcher", "RetryPolicy"]

log = structlog.get_logger("gateway.dispatch")

_NOTIFY = {RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.FAILED, RequestStatus.WAITING_AGENCY}


@dataclasses.dataclass
class _Admission:
    """What one run holds: its agency's permit (or place in line), then a slot of the process."""

    permits: Permits | None
    #: From :meth:`Permits.join`; ``None`` when the agency was saturated (the run makes no call).
    permit: asyncio.Future[None] | None
    slots: Permits
    slot: asyncio.Future[None] | None = None

    def close(self) -> None:
        """Give back the permit and the slot, once, whatever the run got to."""
        if self.permits is not None and self.permit is not None:
            self.permits.leave(self.permit)
        self.permit = None
        if self.slot is not None:
            self.slots.leave(self.slot)
        self.slot = None


class Dispatcher:
    """Runs accepted requests through their adapters, ``concurrency`` at a time, each agency within its permits."""

    def __init__(
        self,
        store: RequestStore,
        registry: Registry,
        *,
        owner: str,
        concurrency: int = 64,
        lease_seconds: float = 60.0,
        sweep_interval: float = 5.0,
        policies: Mapping[ServiceKind, RetryPolicy] | None = None,
        agency_policies: Mapping[str, AgencyPolicy] | None = None,
        agency_retry_policies: Mapping[str, Mapping[ServiceKind, RetryPolicy]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        problems: ProblemCatalog = DEFAULT_PROBLEMS,
        hub: EventHub | None = None,
        telemetry: Telemetry | None = None,
        auditor: Auditor | None = None,
        circuits: ReportStore | None = None,
    ) -> None:
        """``circuits``: where every agency's circuit changes are recorded for the service-level report."""
        self.telemetry = telemetry or Telemetry()
        self.auditor = auditor or Auditor.off()
        self._store = store
        self._registry = registry
        self._owner = owner
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._sweep_interval = sweep_interval
        base = {**DEFAULT_POLICIES, **(policies or {})}
        self._policies = {
            agency: {**base, **(agency_retry_policies or {}).get(agency, {})} for agency in registry.adapters
        }
        self._guards = {
            agency: AgencyGuard.build(agency, (agency_policies or {}).get(agency, AgencyPolicy()))
            for agency in registry.adapters
        }
        self._sleep = sleep
        self._problems = problems
        self.hub = hub or EventHub()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: Requests being run, each with a future resolved when its run ends.
        self._inflight: dict[str, asyncio.Future[None]] = {}
        #: Runs of waited lookups made within their API call (their dispatch and first attempt are span events).
        self._in_call: set[str] = set()
        #: The process's run slots, taken only by runs that already hold their agency's permit.
        self._slots = Permits(concurrency)
        #: Every run, cancelled (its claim released) when a stop's grace runs out.
        self._runs: set[asyncio.Task[StoredRequest | None]] = set()
        self._closing = False
        self._circuit_changes = {agency: 0 for agency in self._guards}
        #: Called with every status this process records (:meth:`on_status`).
        self._listeners: list[Callable[[str, RequestStatus], None]] = []
        self._circuits = circuits
        #: Circuit states not yet in the store: a failed write leaves them for the next sweep (oldest dropped first).
        self._unrecorded: collections.deque[CircuitTransition] = collections.deque(maxlen=4096)
        self._next_heartbeat = -math.inf

    @property
    def owner(self) -> str:
        """The lease owner name of this process."""
        return self._owner

    @property
    def guards(self) -> Mapping[str, AgencyGuard]:
        """The protection state of every agency."""
        return self._guards

    def fast_fail(self, agency: str) -> int | None:
        """Seconds until the agency may be tried again when its circuit is open, counting the fast failure; else None.

        A lookup is answered at once while the circuit is open instead of queueing behind an outage.
        """
        guard = self._guards.get(agency)
        if guard is None or guard.breaker.state is not BreakerState.OPEN:
            return None
        guard.fast_failures += 1
        self.telemetry.metrics.circuit_fast_failures.labels(agency).inc()
        return max(1, round(guard.breaker.retry_after()))

    def reserve_lookup(self, agency: str) -> int | None:
        """Keep a place in the agency's line for a lookup about to be stored and return None; or, when the agency
        is saturated, count the refusal and return the seconds to suggest in ``Retry-After``.

        Saturated: the agency's runs holding a permit, waiting for one, and places kept for lookups still being
        stored add up to ``concurrency + queue_limit`` (so: every permit held and ``queue_limit`` waiting). A
        lookup is then refused before it is stored instead of waiting behind the agency's backlog.
        """
        guard = self._guards.get(agency)
        if guard is None or guard.permits.promise():
            return None
        guard.saturated_refusals += 1
        return guard.saturation_delay()

    def agency_health(self, agency: str) -> dict[str, object]:
        """The agency's circuit, latency, rate and error figures as ``GET /v1/agencies`` shows them."""
        guard = self._guards.get(agency)
        return guard.snapshot() if guard is not None else {"agency": agency}

    async def start(self) -> None:
        """Start the workers (they claim queued requests and start their runs), the sweeper and the lease renewer; the
        first sweep picks up work left behind."""
        self._closing = False
        self._tasks = [asyncio.create_task(self._worker(), name=f"dispatch-{i}") for i in range(self._concurrency)]
        self._tasks.append(asyncio.create_task(self._sweeper(), name="dispatch-sweeper"))
        self._tasks.append(asyncio.create_task(self._renewer(), name="dispatch-renewer"))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking work, let in-flight requests finish for ``grace`` seconds, release the rest."""
        self._closing = True
        inflight = list(self._inflight.values())
        if inflight:
            await asyncio.wait(inflight, timeout=grace)
        runs = [*self._tasks, *self._runs]
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        self._tasks = []
        await self._record_circuits(heartbeat=False)  # the changes of the last moments
        for futures in self._waiters.values():
            for fut in futures:
                if not fut.done():
                    fut.cancel()
        self._waiters.clear()

    @property
    def lease_seconds(self) -> float:
        """How long a claim lasts before another worker may take the request over."""
        return self._lease_seconds

    def can_run_now(self) -> bool:
        """True when a new request may be stored already claimed and run at once by :meth:`run_claimed`: a slot
        of the process is free (its agency may still make it wait for a permit, holding no slot)."""
        return not self._closing and bool(self._tasks) and self._slots.free > 0

    def run_claimed(
        self, request: StoredRequest, payload: BaseModel, *, in_call: bool = False
    ) -> asyncio.Task[StoredRequest | None]:
        """Run a fresh request the API stored claimed by this process, without a queue, claim or read-back.

        The task's result is the request as recorded at the end of the run, or ``None`` when the run did not end
        with a recorded status. ``in_call``: the run is part of the API call waiting for it (a waited lookup), so
        its dispatch and first attempt are events of the call's span rather than spans of their own.

        A lookup takes up the place kept for it (:meth:`reserve_lookup`), and joins its agency's line even past
        the bound. A submission finding no room goes back to the store for a while.
        """
        if in_call:
            self._in_call.add(request.id)
        return self._launch(request, payload, wait=ServiceKind(request.kind) is ServiceKind.LOOKUP)

    def _launch(
        self, request: StoredRequest, payload: BaseModel | None, *, wait: bool
    ) -> asyncio.Task[StoredRequest | None]:
        """Join the agency's line (and take a slot when the permit came at once) now, then run in a task."""
        admission = self._admit(request, wait=wait)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[request.id] = done
        task = asyncio.create_task(self._run(request, payload, admission, done), name=f"run-{request.id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return task

    def _admit(self, request: StoredRequest, *, wait: bool) -> _Admission:
        entry = self._registry.services.get(request.service)
        if entry is None:  # the run fails without a call
            return _Admission(None, None, self._slots)
        permits = self._guards[entry[0].agency].permits
        lookup = ServiceKind(request.kind) is ServiceKind.LOOKUP
        admission = _Admission(permits, permits.join(force=wait, promised=lookup), self._slots)
        if admission.permit is not None and admission.permit.done():
            admission.slot = self._slots.enter()
        return admission

    async def _run(
        self,
        request: StoredRequest,
        payload: BaseModel | None,
        admission: _Admission,
        done: asyncio.Future[None],
    ) -> StoredRequest | None:
        try:
            return await self._process_claimed(request, payload, admission)
        except asyncio.CancelledError:
            admission.close()
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release(request.id, self._owner))
            raise
        except Exception:  # the lease expires and the sweeper runs the request again
            log.exception("dispatch.worker_error", request_id=request.id)
            return None
        finally:
            admission.close()
            self._inflight.pop(request.id, None)
            self._in_call.discard(request.id)
            done.set_result(None)

    def submit(self, request_id: str) -> None:
        """Queue a persisted request for execution."""
        if request_id not in self._queued and request_id not in self._inflight:
            self._queued.add(request_id)
            self._queue.put_nowait(request_id)

    def waiter(self, request_id: str) -> asyncio.Future[None]:
        """A future resolved when this process takes the request to a state other than ``in_progress``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request_id, []).append(fut)
        return fut

    def forget(self, request_id: str, fut: asyncio.Future[None]) -> None:
        """Drop a waiter the API no longer waits on."""
        futures = self._waiters.get(request_id)
        if futures and fut in futures:
            futures.remove(fut)
            if not futures:
                del self._waiters[request_id]

    def queue_depth(self) -> int:
        """Requests queued in this process, not yet started."""
        return self._queue.qsize()

    def in_flight(self) -> int:
        """Requests being run by this process."""
        return len(self._inflight)

    def on_status(self, listener: Callable[[str, RequestStatus], None]) -> None:
        """Call ``listener(request_id, status)`` whenever this process records a request's new status (the
        journeys' engine advances a journey when one of its steps ends here)."""
        self._listeners.append(listener)

    def _notify(self, request_id: str, status: RequestStatus) -> None:
        self.hub.publish(request_id, status)
        for listener in self._listeners:
            listener(request_id, status)
        for fut in self._waiters.pop(request_id, []):
            if not fut.done():
                fut.set_result(None)

    async def _sweeper(self) -> None:
        while not self._closing:
            try:
                for request_id in await self._store.due(limit=1000):
                    self.submit(request_id)
                depth, oldest = await self._store.queue_stats()
                self.telemetry.metrics.queue_depth.set(depth)
                self.telemetry.metrics.queue_oldest.set(max(0.0, time.time() - oldest) if oldest else 0.0)
            except Exception:  # the store may be briefly unavailable; the next sweep tries again
                log.warning("dispatch.sweep_failed", exc_info=True)
            self._watch_circuits()
            await self._record_circuits()
            self._gauges()
            await asyncio.sleep(self._sweep_interval)

    def _watch_circuits(self) -> None:
        """Log once when an agency's circuit changes state, not once per failed call.

        ``agency.unavailable`` (open) names the last causes of failure with their counts over the breaker's window
        (no personal data: fixed words, codes and masked details); ``agency.probing``
        (half-open) while probe calls test the agency; ``agency.available`` only once a probe succeeded.
        """
        for agency, guard in self._guards.items():
            state = guard.breaker.state
            if guard.breaker.changes == self._circuit_changes[agency]:
                continue
            self._circuit_changes[agency] = guard.breaker.changes
            if state is BreakerState.OPEN:
                last = guard.last_failure
                causes = guard.causes(within=guard.policy.breaker_window)
                log.warning("agency.unavailable", agency=agency, circuit=state.value, causes=causes,
                            problem=last.problem if last else None,
                            retry_after=round(guard.breaker.retry_after(), 1))  # fmt: skip
            elif state is BreakerState.HALF_OPEN:
                log.warning("agency.probing", agency=agency, circuit=state.value, probes=guard.policy.breaker_probes)
            else:
                log.info("agency.available", agency=agency, circuit=state.value)

    async def _record_circuits(self, *, heartbeat: bool = True) -> None:
        """Record every agency's circuit changes for the service-level report, and every agency's state at the first
        sweep and each :data:`CIRCUIT_HEARTBEAT_SECONDS` after (so a replica that is running shows, changes or not).

        Runs in the sweeper, never on a request's path; a failed write is logged and tried again at the next sweep.
        """
        if self._circuits is None:
            return
        beat = heartbeat and time.monotonic() >= self._next_heartbeat
        for agency, guard in self._guards.items():
            for at, state in guard.take_transitions():
                self._unrecorded.append(CircuitTransition(agency, self._owner, at, state))
            if beat:
                at, state = guard.circuit_state()
                self._unrecorded.append(CircuitTransition(agency, self._owner, at, state))
        if beat:
            self._next_heartbeat = time.monotonic() + CIRCUIT_HEARTBEAT_SECONDS
        if not self._unrecorded:
            return
        batch = list(self._unrecorded)
        try:
            await self._circuits.record_circuit(batch)
        except Exception as exc:  # the next sweep tries again; the report only misses the time in between
            log.warning("service_levels.record_failed", states=len(batch), error=type(exc).__name__)
            return
        for _ in batch:
            self._unrecorded.popleft()

    async def _renewer(self) -> None:
        """Keep the leases of running requests, so that only a dead process's work is ever taken over."""
        while not self._closing:
            await asyncio.sleep(self._lease_seconds / 3)
            for request_id in list(self._inflight):
                try:
                    await self._store.renew(request_id, self._owner, self._lease_seconds)
                except Exception:  # the next round tries again; the lease outlives two missed rounds
                    log.warning("dispatch.renew_failed", request_id=request_id, exc_info=True)

    async def _worker(self) -> None:
        """Claim queued requests and start their runs; never waits for an agency, so never holds up another's work.

        A worker takes the next id only while a slot of the process is free, so work stays in the store when the
        process is busy. A request whose agency is saturated goes back to the store for a while (:meth:`_verdict`).
        """
        while not self._closing:
            await self._slots.vacancy()
            request_id = await self._queue.get()
            self._queued.discard(request_id)
            if request_id in self._inflight:
                continue
            try:
                request = await self._store.claim(request_id, self._owner, self._lease_seconds)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._store.release(request_id, self._owner))
                raise
            except Exception:  # a defect must not kill the worker; the next sweep offers the request again
                log.exception("dispatch.worker_error", request_id=request_id)
                continue
            if request is not None:
                self._launch(request, None, wait=False)

    async def _process_claimed(
        self,
        request: StoredRequest,
        payload: BaseModel | None,
        admission: _Admission,
    ) -> StoredRequest | None:
        telemetry = self.telemetry
        if request.id in self._in_call:
            # A waited lookup run within its call: the dispatch is an event of the call's server span (the log
            # context is the call's, with the request bound), and its first attempt one too (Execution).
            span = get_current_span()
            if span.is_recording():
                span.add_event("dispatch", {"mpp.request_id": request.id, "mpp.service": request.service,
                                            "mpp.agency": request.agency})  # fmt: skip
            return await self._dispatch(request, payload, admission)
        # The request's own trace, stored at acceptance: work done later, even after a restart, joins it.
        parent = telemetry.extract({"traceparent": request.traceparent} if request.traceparent else {})
        with telemetry.tracer.start_as_current_span(
            f"dispatch {request.service}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={"mpp.request_id": request.id, "mpp.service": request.service, "mpp.agency": request.agency,
                        "mpp.reconcile_first": request.needs_reconcile},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:  # fmt: skip
            trace_id, span_id = ids(span)
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(
                request_id=request.id, trace_id=trace_id, span_id=span_id, service=request.service,
                agency=request.agency, client=request.client_id,
            )  # fmt: skip
            finished = await self._dispatch(request, payload, admission)
            self._gauges()
            return finished

    def _gauges(self) -> None:
        metrics = self.telemetry.metrics
        for agency, guard in self._guards.items():
            metrics.in_flight.labels(agency).set(guard.in_flight)
            state = guard.breaker.state.value
            metrics.circuit_state.labels(agency).set({"closed": 0, "half_open": 1, "open": 2}[state])

    async def _dispatch(
        self,
        request: StoredRequest,
        payload: BaseModel | None,
        admission: _Admission,
    ) -> StoredRequest | None:
        self.hub.publish(request.id, RequestStatus.IN_PROGRESS)
        started = time.monotonic()
        verdict, recorded = await self._verdict(request, payload, admission)
        if verdict.defer is not None:
            await self._store.release(
                request.id, self._owner, not_before=time.time() + verdict.defer,
                needs_reconcile=verdict.needs_reconcile, attempt=verdict.attempt,
            )  # fmt: skip
            self._notify(request.id, RequestStatus.ACCEPTED)
            log.info("request.deferred", seconds=round(verdict.defer, 1), attempts=verdict.attempts,
                     reason=verdict.reason)  # fmt: skip
            return None
        finished = await self._finish(request, verdict, recorded)
        metrics = self.telemetry.metrics
        metrics.requests.labels(request.service, request.agency, verdict.status).inc()
        metrics.request_seconds.labels(request.service, request.agency).observe(
            max(0.0, time.time() - request.created_at.timestamp())
        )
        slug = verdict.problem[0] if verdict.problem is not None else None
        if verdict.status is RequestStatus.REJECTED and slug not in self._problems:
            slug = "agency-rejected"  # as :meth:`_finish` records it
        _log_finished(verdict, slug, round((time.monotonic() - started) * 1000, 1))
        return finished

    async def _verdict(
        self,
        request: StoredRequest,
        payload: BaseModel | None,
        admission: _Admission,
    ) -> tuple[Verdict, list[StoredAttempt]]:
        entry = self._registry.services.get(request.service)
        if entry is None:
            return Verdict(problem=("agency-unavailable", "no adapter serves this service", None)), []
        adapter, service = entry
        if payload is None:
            try:
                payload = service.payload_model.model_validate(request.envelope.get("payload", {}))
            except ValidationError:
                return Verdict(problem=("validation-error", "the stored payload no longer fits the service", None)), []
        execution = Execution(
            self._store,
            request,
            adapter,
            payload,
            self._guards[adapter.agency],
            self._policies[adapter.agency][ServiceKind(request.kind)],
            sleep=self._sleep,
            telemetry=self.telemetry,
            first_attempt_as_event=request.id in self._in_call,
        )
        verdict = await self._execute(execution, self._guards[adapter.agency], admission)
        return verdict, execution.recorded

    async def _execute(self, execution: Execution, guard: AgencyGuard, admission: _Admission) -> Verdict:
        """Wait for the agency's permit (holding nothing else), then a slot of the process, then run."""
        if admission.permit is None:
            get_current_span().add_event("agency.saturated", {"mpp.agency": guard.agency})
            return execution.refused(f"{guard.agency} was saturated", guard.saturation_delay(), requeue=True)
        try:
            try:
                async with asyncio.timeout(max(0.001, execution.remaining)):
                    await admission.permit
            except TimeoutError:
                return execution.refused(f"the {guard.agency} concurrency limit was full until the deadline", 1.0,
                                         requeue=False)  # fmt: skip
            if admission.slot is None:
                admission.slot = self._slots.enter()
            await admission.slot
            return await execution.run()
        finally:
            admission.close()

    async def _finish(
        self, request: StoredRequest, verdict: Verdict, recorded: list[StoredAttempt]
    ) -> StoredRequest | None:
        problem_json = None
        if verdict.problem is not None:
            slug, detail, code = verdict.problem
            if verdict.status is RequestStatus.REJECTED and slug not in self._problems:
                slug = "agency-rejected"
            problem_json = self._problems.build(
                slug, detail, instance=f"/v1/requests/{request.id}", trace_id=request.trace_id, code=code
            ).model_dump(mode="json", exclude_none=True)
        webhook = None
        callback = request.envelope.get("callback_url")
        if callback and verdict.status in _NOTIFY:
            event_id = "evt_" + new_request_id()[4:]
            webhook = NewWebhook(
                id=event_id,
                client_id=request.client_id,
                url=str(callback),
                body={
                    "event_id": event_id,
                    "type": "request.status",
                    "request_id": request.id,
                    "service": request.service,
                    "status": verdict.status,
                    "agency_reference": verdict.reference,
                    "result": verdict.result,
                    "problem": problem_json,
                    "occurred_at": time.time(),
                },
            )
        at = dt.datetime.now(dt.UTC)
        owned = await self._store.finish(
            request.id,
            self._owner,
            status=verdict.status,
            attempt=verdict.attempt,
            result=verdict.result,
            agency_reference=verdict.reference,
            problem=problem_json,
            webhook=webhook,
            at=at,
            # Its audit entry is written in the same transaction as the status: both are kept, or neither.
            audit=self.auditor.finished(request, verdict.status, problem_json),
        )
        if not owned:
            log.warning("dispatch.lease_lost")
        self._notify(request.id, verdict.status)
        if not owned:
            return None
        # What the store now holds, for a caller that answers without reading it back. Attempts of earlier runs
        # are only in the store, so the list is whole only for a request's first run.
        return dataclasses.replace(
            request,
            status=verdict.status,
            result=verdict.result,
            agency_reference=verdict.reference,
            problem=problem_json,
            updated_at=at,
            finished_at=at if verdict.status.final else None,
            lease_owner=None,
            lease_expires=None,
            attempt_count=request.attempt_count + len(recorded),
            attempts=request.attempts + tuple(recorded),
        )


def _log_finished(verdict: Verdict, slug: str | None, duration_ms: float) -> None:
    """``request.finished``: a failed request at ``warning`` with its problem type, a rejected one (the agency's
    answer) at ``info`` with its problem type, any other at ``debug`` (the access line at ``info`` is the call's one
    line); the dispatch span of a failed request gets status ERROR."""
    fields = {"status": verdict.status.value, "attempts": verdict.attempts, "duration_ms": duration_ms}
    if verdict.status is RequestStatus.FAILED:
        get_current_span().set_status(Status(StatusCode.ERROR, slug or "failed"))
        log.warning("request.finished", problem=slug, **fields)
    elif verdict.status is RequestStatus.REJECTED:
        log.info("request.finished", problem=slug, **fields)
    else:
        log.debug("request.finished", **fields)
