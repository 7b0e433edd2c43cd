"""The dispatcher: takes accepted requests under a lease, runs them (:mod:`gateway.dispatch._execution`), and records
every attempt and the outcome.

Requests reach it two ways: the API hands over the id of a request it just persisted, and a sweeper finds
requests nobody is working on (after a restart, when a lease expired, or when a deferred submission is due). A
claim in the store is the only thing that lets a worker run a request, so an id queued twice still runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from adapters import Registry
from contracts import RequestStatus, ServiceKind

from ..audit import Auditor
from ..problems import DEFAULT_PROBLEMS, ProblemCatalog
from ..store import NewWebhook, RequestStore, StoredAttempt, StoredRequest, new_request_id
from ..telemetry import Telemetry, ids
from ._events import EventHub
from ._execution import Execution, Verdict
from ._guard import AgencyGuard, AgencyPolicy, BreakerState
from ._retry import DEFAULT_POLICIES, RetryPolicy

__all__ = ["Dispatcher", "RetryPolicy"]

log = structlog.get_logger("gateway.dispatch")

_NOTIFY = {RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.FAILED, RequestStatus.WAITING_AGENCY}


class Dispatcher:
    """Runs accepted requests through their adapters, ``concurrency`` at a time."""

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
    ) -> None:
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
        #: Requests the API stored already claimed and runs at once, outside the worker pool.
        self._direct = 0
        self._closing = False
        self._circuit_changes = {agency: 0 for agency in self._guards}

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
        return max(1, round(guard.breaker.retry_after()))

    def agency_health(self, agency: str) -> dict[str, object]:
        """The agency's circuit, latency, rate and error figures as ``GET /v1/agencies`` shows them."""
        guard = self._guards.get(agency)
        return guard.snapshot() if guard is not None else {"agency": agency}

    async def start(self) -> None:
        """Start the workers, the sweeper and the lease renewer; the first sweep picks up work left behind."""
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
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
        """True when a new request may be stored already claimed and run at once by :meth:`run_claimed`."""
        return not self._closing and bool(self._tasks) and self._direct < self._concurrency

    def run_claimed(
        self, request: StoredRequest, payload: BaseModel, *, stored: Awaitable[object] | None = None
    ) -> asyncio.Task[StoredRequest | None]:
        """Run a fresh request the API stored claimed by this process, without a queue, claim or read-back.

        ``stored`` is the pending insert, when the API did not wait for it: every write of the run waits for it
        first, so the answer is never given before the request is durable. The task's result is the request as
        recorded at the end of the run, or ``None`` when the run did not end with a recorded status.
        """
        self._direct += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[request.id] = done
        return asyncio.create_task(self._run_claimed(request, payload, stored, done), name=f"run-{request.id}")

    async def _run_claimed(
        self, request: StoredRequest, payload: BaseModel, stored: Awaitable[object] | None, done: asyncio.Future[None]
    ) -> StoredRequest | None:
        try:
            return await self._process_claimed(request, payload, stored)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._store.release(request.id, self._owner))
            raise
        except Exception:  # the lease expires and the sweeper runs the request again
            log.exception("dispatch.worker_error", request_id=request.id)
            return None
        finally:
            self._direct -= 1
            self._inflight.pop(request.id, None)
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

    def _notify(self, request_id: str, status: RequestStatus) -> None:
        self.hub.publish(request_id, status)
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
            self._gauges()
            await asyncio.sleep(self._sweep_interval)

    def _watch_circuits(self) -> None:
        """Log once when an agency's circuit changes state, not once per failed call."""
        for agency, guard in self._guards.items():
            state = guard.breaker.state
            if guard.breaker.changes != self._circuit_changes[agency]:
                self._circuit_changes[agency] = guard.breaker.changes
                event = "agency.unavailable" if state.value == "open" else "agency.recovering"
                if state.value == "closed":
                    event = "agency.available"
                log.warning(event, agency=agency, circuit=state.value)

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
        while not self._closing:
            request_id = await self._queue.get()
            self._queued.discard(request_id)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._inflight[request_id] = done
            try:
                await self._process(request_id)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._store.release(request_id, self._owner))
                raise
            except Exception:  # a defect must not kill the worker; the lease expires and the request is retried
                log.exception("dispatch.worker_error", request_id=request_id)
            finally:
                self._inflight.pop(request_id, None)
                done.set_result(None)

    async def _process(self, request_id: str) -> None:
        request = await self._store.claim(request_id, self._owner, self._lease_seconds)
        if request is None:
            return
        await self._process_claimed(request)

    async def _process_claimed(
        self, request: StoredRequest, payload: BaseModel | None = None, stored: Awaitable[object] | None = None
    ) -> StoredRequest | None:
        telemetry = self.telemetry
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
            finished = await self._dispatch(request, payload, stored)
            self._gauges()
            return finished

    def _gauges(self) -> None:
        metrics = self.telemetry.metrics
        for agency, guard in self._guards.items():
            metrics.in_flight.labels(agency).set(guard.in_flight)
            state = guard.breaker.state.value
            metrics.circuit_state.labels(agency).set({"closed": 0, "half_open": 1, "open": 2}[state])

    async def _dispatch(
        self, request: StoredRequest, payload: BaseModel | None, stored: Awaitable[object] | None
    ) -> StoredRequest | None:
        self.hub.publish(request.id, RequestStatus.IN_PROGRESS)
        started = time.monotonic()
        verdict, recorded = await self._verdict(request, payload, stored)
        if stored is not None:
            await stored
        if verdict.defer is not None:
            await self._store.release(
                request.id, self._owner, not_before=time.time() + verdict.defer,
                needs_reconcile=verdict.needs_reconcile, attempt=verdict.attempt,
            )  # fmt: skip
            self._notify(request.id, RequestStatus.ACCEPTED)
            log.info("request.deferred", seconds=round(verdict.defer, 1), attempts=verdict.attempts)
            return None
        finished = await self._finish(request, verdict, recorded)
        metrics = self.telemetry.metrics
        metrics.requests.labels(request.service, request.agency, verdict.status).inc()
        metrics.request_seconds.labels(request.service, request.agency).observe(
            max(0.0, time.time() - request.created_at.timestamp())
        )
        log.info(
            "request.finished",
            status=verdict.status,
            attempts=verdict.attempts,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return finished

    async def _verdict(
        self, request: StoredRequest, payload: BaseModel | None, stored: Awaitable[object] | None
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
            stored=stored,
        )
        verdict = await execution.run()
        return verdict, execution.recorded

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
        )
        if not owned:
            log.warning("dispatch.lease_lost")
        else:
            await self.auditor.finished(request, verdict.status, problem_json)
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
