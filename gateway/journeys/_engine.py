"""Advancing journeys: deciding which steps run next, storing their requests, and ending the journey.

The engine keeps no state of its own that matters: everything it decides is read from the store and written back
with conditional updates, so any replica (or this one after a restart) can advance any journey, and two advancing
the same journey at once cannot both start a step or both end the journey.

One round of :meth:`JourneyEngine.advance`:

1. read the journey, its steps and the results of its finished steps' requests;
2. a required step ``failed`` or ``rejected``: the journey fails (resumable);
3. every step final: the journey completes with its combined answer;
4. else each step whose dependencies are final either is skipped (its condition is false, or an input it needs
   was never produced) or has its request stored through the acceptance path
   (:meth:`~gateway.service.Acceptance.accept_step`), under the key ``journey <id> <step> <run>``: storing it again
   after a crash finds the first request, and the step row moves to ``running`` in the request's own transaction.

A step's request ends in the dispatcher; its final status sets the step's in the same transaction (the store's
finish hook), and the dispatcher's notification (:meth:`~gateway.dispatch.Dispatcher.on_status`) runs the next
round here at once. A sweeper runs rounds for journeys nobody advanced for a while: after a restart, or when the
step ended on another replica.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import os
import time
from collections.abc import Mapping
from typing import Any

import structlog
from opentelemetry.trace import SpanKind, Status, StatusCode

from contracts import JourneyStatus, RequestStatus, StepStatus

from ..audit import Auditor
from ..dispatch import Dispatcher
from ..problems import DEFAULT_PROBLEMS, ApiProblem, ProblemCatalog
from ..security import Client
from ..service import Acceptance, StepSubmission
from ..store import (
    AuditEvent,
    NewWebhook,
    StepLink,
    StepTaken,
    Store,
    StoredJourney,
    StoredJourneyStep,
    StoredRequest,
    StoreError,
    new_request_id,
)
from ..telemetry import Telemetry, TraceContext
from ._catalog import CompiledJourney, JourneyCatalog
from ._expressions import JourneyContext, StepOutcome, Unresolved, parse_condition, resolve

__all__ = ["JourneyEngine", "step_key"]

log = structlog.get_logger("gateway.journeys")

#: Rounds of one advance at most (each skip can make more steps ready; a journey has at most 32 steps).
_MAX_ROUNDS = 40
#: Ids of requests that ended here lately, for a step whose request ended before the engine knew its id.
_RECENT = 4096


def step_key(journey_id: str, step: str, run: int) -> str:
    """The idempotency key of a step's request. It holds spaces, which a client's ``Idempotency-Key`` cannot
    (:mod:`gateway.service._acceptance`), so no client can take a journey's key first."""
    return f"journey {journey_id} {step} {run}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _trace(traceparent: str | None) -> TraceContext:
    """The trace context a stored ``traceparent`` names (a fresh unsampled one when there is none)."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return TraceContext(parts[1], parts[2], parts[3] == "01")
    return TraceContext(os.urandom(16).hex(), os.urandom(8).hex(), False)


@dataclasses.dataclass
class _Round:
    """What one round read: the journey, its definition, and its steps' outcomes so far."""

    journey: StoredJourney
    compiled: CompiledJourney
    requests: dict[str, StoredRequest]

    def context(self) -> JourneyContext:
        steps = {
            s.name: StepOutcome(s.status, self.requests[s.name].result if s.name in self.requests else None)
            for s in self.journey.steps
        }
        return JourneyContext(payload=self.journey.envelope.get("payload") or {}, steps=steps)


class JourneyEngine:
    """Advances journeys: on a step's end in this process at once, and every ``sweep_interval`` for the rest."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: JourneyCatalog,
        acceptance: Acceptance,
        dispatcher: Dispatcher,
        clients: Mapping[str, Client],
        auditor: Auditor | None = None,
        telemetry: Telemetry | None = None,
        problems: ProblemCatalog = DEFAULT_PROBLEMS,
        sweep_interval: float = 5.0,
        idle_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.telemetry = telemetry or dispatcher.telemetry
        self.auditor = auditor or Auditor.off()
        self.problems = problems
        self.sweep_interval = sweep_interval
        self._acceptance = acceptance
        self._clients = clients
        self._idle_seconds = idle_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        #: Step requests stored by this process and not yet ended: request id -> journey id.
        self._steps: dict[str, str] = {}
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._changes: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        dispatcher.on_status(self._request_status)

    # -- wiring -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sweeper (its first round picks up journeys left behind by a restart)."""
        self._closing = False
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="journeys-sweeper")

    async def stop(self) -> None:
        """Stop sweeping and wait for the rounds under way (a round is a few store writes)."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    def changed(self, journey_id: str) -> asyncio.Event:
        """An event set the next time this process sees ``journey_id`` change (a fresh one after each)."""
        return self._changes.setdefault(journey_id, asyncio.Event())

    def _signal(self, journey_id: str) -> None:
        event = self._changes.pop(journey_id, None)
        if event is not None:
            event.set()

    def _request_status(self, request_id: str, status: RequestStatus) -> None:
        """The dispatcher recorded ``status``: advance the journey whose step the request was, if any."""
        if not (status.final or status is RequestStatus.WAITING_AGENCY):
            return
        journey_id = self._steps.pop(request_id, None)
        if journey_id is None:
            self._recent[request_id] = None
            while len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            return
        self.schedule(journey_id)

    def _track(self, request_id: str, journey_id: str) -> None:
        """Advance ``journey_id`` when the request ends here (at once if it already did)."""
        if request_id in self._recent:
            del self._recent[request_id]
            self.schedule(journey_id)
        else:
            self._steps[request_id] = journey_id
            while len(self._steps) > _RECENT:  # a request another replica finished never ends here: forget it
                del self._steps[next(iter(self._steps))]

    def schedule(self, journey_id: str) -> None:
        """Advance ``journey_id`` in the background."""
        if self._closing:
            return
        task = asyncio.get_running_loop().create_task(self._advance_quietly(journey_id), name=f"journey-{journey_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _advance_quietly(self, journey_id: str) -> None:
        try:
            await self.advance(journey_id)
        except Exception:  # the sweeper tries again
            log.warning("journey.advance_failed", journey_id=journey_id, exc_info=True)

    async def _sweep(self) -> None:
        while not self._closing:
            try:
                for journey_id in await self.store.due_journeys(100, idle_seconds=self._idle_seconds):
                    await self._advance_quietly(journey_id)
            except Exception:  # the store may be briefly unavailable; the next sweep tries again
                log.warning("journey.sweep_failed", exc_info=True)
            await asyncio.sleep(self.sweep_interval)

    # -- advancing ----------------------------------------------------------------------------------------------

    async def advance(self, journey_id: str) -> None:
        """Run rounds until the journey waits on its steps' requests or is final (one at a time per journey in
        this process; replicas are kept apart by the store's conditional updates)."""
        lock = self._locks.setdefault(journey_id, asyncio.Lock())
        try:
            async with lock:
                for _ in range(_MAX_ROUNDS):
                    if not await self._round(journey_id):
                        break
        finally:
            if not lock.locked():
                self._locks.pop(journey_id, None)
            self._signal(journey_id)

    async def _round(self, journey_id: str) -> bool:
        """One round; ``True`` when it changed something that may let more steps go."""
        journey = await self.store.get_journey(journey_id)
        if journey is None or journey.status is not JourneyStatus.RUNNING:
            return False
        compiled = self.catalog.get(journey.journey)
        if compiled is None:
            problem = self._problem("internal-error", "the journey's definition is no longer loaded", journey.id)
            await self.finish(journey, JourneyStatus.FAILED, problem=problem)
            return False
        state = _Round(journey, compiled, await self._requests(journey))
        definition = compiled.definition
        for step in journey.steps:
            if step.status in (StepStatus.FAILED, StepStatus.REJECTED) and definition.step(step.name).required:
                await self.finish(journey, JourneyStatus.FAILED, problem=self._step_problem(state, step))
                return False
        statuses = {s.name: s.status for s in journey.steps}
        if all(status.final for status in statuses.values()):
            await self.finish(journey, JourneyStatus.COMPLETED, result=self._result(state))
            return False
        ready = compiled.ready(statuses)
        if not ready:
            return False
        context = state.context()
        skips: dict[str, str] = {}
        starts: list[tuple[StoredJourneyStep, dict[str, Any]]] = []
        for name in ready:
            row = journey.step(name)
            if row is None:  # pragma: no cover - the catalog and the store list the same steps
                continue
            reason, payload = self._decide(compiled, name, context)
            if reason is not None:
                skips[name] = reason
            else:
                starts.append((row, {**payload, **(row.override or {})}))
        if skips:
            for name in await self.store.skip_steps(journey.id, skips, at=_now()):
                log.info("journey.step_skipped", journey_id=journey.id, journey=journey.journey, step=name)
        started = await asyncio.gather(*(self._start(state, step, payload) for step, payload in starts))
        return bool(skips) or any(started)

    def _decide(self, compiled: CompiledJourney, name: str, context: JourneyContext) -> tuple[str | None, Any]:
        """Why the step is skipped (``None``: it runs), and its payload when it runs."""
        step = compiled.definition.step(name)
        if step.when is not None:
            try:
                holds = parse_condition(step.when).holds(context)
            except Unresolved as exc:
                return f"its condition needs {exc.reference.text}, which was not produced ({exc.reason})", None
            if not holds:
                return "its condition is false", None
        try:
            payload = resolve(step.payload, context)
        except Unresolved as exc:
            return f"its input {exc.reference.text} was not produced ({exc.reason})", None
        return None, payload if isinstance(payload, dict) else {}

    async def context(self, journey: StoredJourney) -> JourneyContext:
        """What the journey's references see now: its payload and its steps' outcomes."""
        compiled = self.catalog.get(journey.journey)
        if compiled is None:
            return JourneyContext(payload=journey.envelope.get("payload") or {}, steps={})
        return _Round(journey, compiled, await self._requests(journey)).context()

    async def _requests(self, journey: StoredJourney) -> dict[str, StoredRequest]:
        """The requests of the finished steps that have one, by step name."""
        found: dict[str, StoredRequest] = {}
        for step in journey.steps:
            if step.request_id is not None and step.status.final:
                row = await self.store.get(step.request_id, with_attempts=False)
                if row is not None:
                    found[step.name] = row
        return found

    async def _start(self, state: _Round, step: StoredJourneyStep, payload: dict[str, Any]) -> bool:
        """Store the step's request and let the dispatcher run it; ``True`` when this changed the step."""
        journey = state.journey
        definition = state.compiled.definition.step(step.name)
        run = step.run + 1
        client = self._clients.get(journey.client_id)
        envelope = journey.envelope
        body = {
            "service": definition.service,
            "applicant": envelope.get("applicant"),
            "counter": {"mpp_id": journey.mpp_id, "desk": journey.desk, "operator": journey.operator},
            "consent": envelope.get("consent"),
            "payload": payload,
        }
        submission = StepSubmission(
            body=body,
            trace=_trace(journey.traceparent),
            idempotency_key=step_key(journey.id, step.name, run),
            link=StepLink(journey.id, step.name, run),
        )
        try:
            if client is None:
                raise ApiProblem("forbidden", "the client that started the journey is no longer configured")
            accepted = await self._acceptance.accept_step(client, submission)
        except StepTaken:
            return False  # another replica (or an earlier round) stored it
        except ApiProblem as exc:
            if exc.slug == "store-unavailable":
                raise StoreError(exc.detail) from None
            problem = self.problems.build(
                exc.slug, f"step {step.name}: {exc.args[0]}", instance=f"/v1/journeys/{journey.id}",
                trace_id=journey.trace_id, errors=exc.errors, code=exc.code,
            ).model_dump(mode="json", exclude_none=True)  # fmt: skip
            if await self.store.fail_step(journey.id, step.name, run=run, problem=problem, at=_now()):
                log.info("journey.step_refused", journey_id=journey.id, journey=journey.journey, step=step.name,
                         problem=exc.slug)  # fmt: skip
                return True
            return False
        record = accepted.record
        if record.status.final or record.status is RequestStatus.WAITING_AGENCY:
            self.schedule(journey.id)
        else:
            self._track(record.id, journey.id)
        if not accepted.replayed:
            log.info("journey.step_started", journey_id=journey.id, journey=journey.journey, step=step.name,
                     run=run, request_id=record.id)  # fmt: skip
        return False

    # -- ending -------------------------------------------------------------------------------------------------

    def _result(self, state: _Round) -> dict[str, Any]:
        """The definition's combined answer; a field whose step produced nothing is ``null``."""
        context = state.context()
        result: dict[str, Any] = {}
        for name, template in state.compiled.definition.result.items():
            try:
                result[name] = resolve(template, context)
            except Unresolved:
                result[name] = None
        return result

    def _problem(self, slug: str, detail: str, journey_id: str) -> dict[str, Any]:
        return self.problems.build(slug, detail, instance=f"/v1/journeys/{journey_id}").model_dump(
            mode="json", exclude_none=True
        )

    def _step_problem(self, state: _Round, step: StoredJourneyStep) -> dict[str, Any]:
        """The journey's problem: its failed step's, saying which step."""
        request = state.requests.get(step.name)
        problem = step.problem or (request.problem if request is not None else None)
        if not problem:
            return self._problem("internal-error", f"step {step.name} failed", state.journey.id)
        detail = str(problem.get("detail") or problem.get("title") or step.status)
        if not detail.startswith(f"step {step.name}"):
            detail = f"step {step.name}: {detail}"
        return {**problem, "detail": detail, "instance": f"/v1/journeys/{state.journey.id}"}

    async def finish(
        self,
        journey: StoredJourney,
        status: JourneyStatus,
        *,
        result: dict[str, Any] | None = None,
        problem: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> bool:
        """End a running journey (its webhook and audit entry in the same transaction); ``False`` when another
        replica or call ended it first. Counted and traced by whoever ended it. ``actor``: the client that ended
        it (a cancel), for the audit entry; else the client that started it."""
        at = _now()
        webhook = self._webhook(journey, status, result, problem, at)
        slug = str(problem.get("type", "")).rsplit("/", 1)[-1] if problem else None
        audit = None
        if self.auditor.enabled:
            applicant = journey.envelope.get("applicant")
            nik = applicant.get("nik") if isinstance(applicant, dict) else None
            audit = AuditEvent(
                f"journey.{status}", at, actor or journey.client_id, journey.mpp_id, journey.desk, journey.operator,
                journey.journey, journey.id, self.auditor.subject(nik), slug or "ok",
            )  # fmt: skip
        if not await self.store.finish_journey(
            journey.id, status=status, at=at, result=result, problem=problem, webhook=webhook, audit=audit
        ):
            return False
        seconds = max(0.0, (at - journey.created_at).total_seconds())
        within = seconds <= journey.visit_budget
        metrics = self.telemetry.metrics
        metrics.journeys.labels(journey.journey, status.value, "true" if within else "false").inc()
        metrics.journey_seconds.labels(journey.journey).observe(seconds)
        parent = self.telemetry.extract({"traceparent": journey.traceparent} if journey.traceparent else {})
        with self.telemetry.tracer.start_as_current_span(
            f"journey {journey.journey} {status}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={"mpp.journey_id": journey.id, "mpp.journey": journey.journey,
                        "mpp.journey.status": status.value, "mpp.journey.seconds": round(seconds, 3),
                        "mpp.journey.within_visit": within},
        ) as span:  # fmt: skip
            if status is JourneyStatus.FAILED:
                span.set_status(Status(StatusCode.ERROR, slug or "failed"))
        log.info("journey.finished", journey_id=journey.id, journey=journey.journey, status=status.value,
                 problem=slug, seconds=round(seconds, 3), within_visit=within)  # fmt: skip
        self._signal(journey.id)
        return True

    def _webhook(
        self,
        journey: StoredJourney,
        status: JourneyStatus,
        result: dict[str, Any] | None,
        problem: dict[str, Any] | None,
        at: dt.datetime,
    ) -> NewWebhook | None:
        callback = journey.envelope.get("callback_url")
        if not callback:
            return None
        event_id = "evt_" + new_request_id()[4:]
        within = (at - journey.created_at).total_seconds() <= journey.visit_budget
        return NewWebhook(
            id=event_id,
            client_id=journey.client_id,
            url=str(callback),
            body={
                "event_id": event_id,
                "type": "journey.status",
                "journey_id": journey.id,
                "journey": journey.journey,
                "status": status.value,
                "result": result,
                "problem": problem,
                "within_visit": within,
                "occurred_at": time.time(),
            },
        )

    async def wait(self, journey_id: str, seconds: float) -> StoredJourney | None:
        """The journey once final, or as it is after ``seconds`` (``None``: unknown). Changes made here wake it at
        once; another replica's show on the next read (every sweep interval at most)."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            event = self.changed(journey_id)
            journey = await self.store.get_journey(journey_id)
            left = deadline - time.monotonic()
            if journey is None or journey.status.final or left <= 0:
                return journey
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(left, self.sweep_interval))
