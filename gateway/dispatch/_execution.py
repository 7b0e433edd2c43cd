"""One run of one request: admission (breaker, rate limit, bulkhead), the attempt loop, reconciliation, and
the verdict the dispatcher records.

The classes of error drive everything here:
- transient: retried with backoff within the run while the retry budget allows; a submission that runs out is
  deferred (back to the queue) until its deadline, a lookup fails;
- rejected: final;
- ambiguous (a submission may have reached the agency): never resent blindly; the next attempt asks the
  agency first (``Adapter.reconcile``) and resends only if the agency does not have it;
- misconfigured: final for this request, logged loudly for operations; a reply the adapter cannot read
  (protocol error) likewise, as ``agency-protocol-error``, counted by agency and method.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from opentelemetry import trace
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from adapters import (
    Adapter,
    AgencyMisconfigured,
    AgencyProtocolError,
    AgencyRejected,
    AmbiguousOutcome,
    Call,
    Completed,
    ContractError,
    Outcome,
    TransientAgencyError,
    WaitingAgency,
)
from contracts import AttemptOutcome, RequestStatus, ServiceKind

from ..security import redact
from ..store import RequestStore, StoredAttempt, StoredRequest
from ..telemetry import Telemetry
from ._guard import AgencyGuard
from ._retry import Backoff, PastDeadline, RetryPolicy, WithinBudget

__all__ = ["Execution", "Verdict", "attempt_outcome", "failure_cause"]

log = structlog.get_logger("gateway.dispatch")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class Verdict:
    """How a run ended: a status to record, or a deferral back to the queue."""

    status: RequestStatus = RequestStatus.FAILED
    result: dict[str, Any] | None = None
    reference: str | None = None
    #: ``(problem slug, detail, agency code)``
    problem: tuple[str, str, str | None] | None = None
    #: Seconds to wait in the queue before the next run, when the run is deferred.
    defer: float | None = None
    needs_reconcile: bool = False
    #: The last attempt, recorded together with the verdict.
    attempt: StoredAttempt | None = None
    attempts: int = 0
    #: Why the run is deferred (names the agency; no personal data).
    reason: str | None = None


class _Deferred(Exception):
    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class _FailFast(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _CannotReconcile(Exception):
    def __init__(self, cause: AmbiguousOutcome) -> None:
        super().__init__(cause.detail)
        self.cause = cause


class Execution:
    """Runs one claimed request through its adapter."""

    def __init__(
        self,
        store: RequestStore,
        request: StoredRequest,
        adapter: Adapter,
        payload: BaseModel,
        guard: AgencyGuard,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]],
        telemetry: Telemetry,
        first_attempt_as_event: bool = False,
    ) -> None:
        """``first_attempt_as_event``: the first call is an ``attempt`` event of the current span instead of a span
        of its own (a waited lookup run within its call); any retry is a span, as every attempt is otherwise."""
        self._telemetry = telemetry
        self._first_as_event = first_attempt_as_event
        self._store = store
        self._request = request
        self._adapter = adapter
        self._payload = payload
        self._guard = guard
        self._policy = policy
        self._sleep = sleep
        self._kind = ServiceKind(request.kind)
        self._deadline = time.monotonic() + (request.deadline_at - time.time())
        #: The number of the last entry in the request's record: calls, reconcile calls and deferrals alike.
        self._number = request.attempt_count
        #: Calls to the agency in this run.
        self._calls = 0
        self._pending: StoredAttempt | None = None
        self._needs_reconcile = request.needs_reconcile
        #: Every attempt of this run, in the order they are recorded.
        self.recorded: list[StoredAttempt] = []

    @property
    def submission(self) -> bool:
        return self._kind is ServiceKind.SUBMISSION

    @property
    def remaining(self) -> float:
        """Seconds left before the request's deadline (negative once it passed)."""
        return self._deadline - time.monotonic()

    async def run(self) -> Verdict:
        """Attempt the request and decide how the run ends; never raises for agency outcomes.

        The caller holds one of the agency's permits for the whole run (:class:`~gateway.dispatch._guard.Permits`).
        """
        verdict = await self._decide()
        if verdict.defer is not None:
            await self._flush()  # the last call before the deferral; the deferral is the entry recorded last
            self._deferral(verdict)
        if self._pending is not None:
            self.recorded.append(self._pending)
        return self._closed(verdict)

    def refused(self, reason: str, delay: float, *, requeue: bool) -> Verdict:
        """The verdict of a run that got no permit from the agency, without a call.

        ``requeue``: back to the queue for ``delay`` seconds whatever the kind (the agency had no room), failed only
        when the deadline comes first; otherwise as an open circuit: a lookup fails, a submission is deferred.
        """
        if requeue and time.monotonic() + delay < self._deadline:
            verdict = Verdict(RequestStatus.ACCEPTED, defer=delay, reason=reason)
        elif requeue and not self.submission:
            verdict = Verdict(problem=("deadline-exceeded", reason, None))
        else:
            verdict = self._defer_or_fail(delay, reason)
        if verdict.defer is not None:
            self._deferral(verdict)
        if self._pending is not None:
            self.recorded.append(self._pending)
        return self._closed(verdict)

    def _closed(self, verdict: Verdict) -> Verdict:
        verdict.attempt = self._pending
        verdict.attempts = self._calls
        verdict.needs_reconcile = self._needs_reconcile
        return verdict

    def _deferral(self, verdict: Verdict) -> None:
        """Make the deferral the entry recorded with the release: why, and when the request is tried again.

        A run that added no entry (no call, no reconcile call) after a run that was itself deferred adds none: the
        earlier deferral stands for the whole wait, so an outage of hours does not add an entry per try.
        """
        if self._number == self._request.attempt_count and self._request.not_before is not None:
            return
        delay = verdict.defer or 0.0
        now = _utcnow()
        detail = f"{verdict.reason or 'deferred'}; tried again in {max(1, round(delay))} s"
        self._number += 1
        self._pending = StoredAttempt(self._number, now, now, AttemptOutcome.DEFERRED, redact(detail))

    async def _flush(self) -> None:
        """Record the pending entry now (it is not the last of the run)."""
        if self._pending is None:
            return
        await self._store.record_attempt(self._request.id, self._pending)
        self.recorded.append(self._pending)
        self._pending = None

    async def _decide(self) -> Verdict:
        budget = WithinBudget(self._guard)
        retryable: tuple[type[Exception], ...] = (TransientAgencyError,)
        if self.submission:
            retryable = (TransientAgencyError, AmbiguousOutcome)
        if self._deadline <= time.monotonic():
            slug = "agency-outcome-unknown" if self._needs_reconcile else "deadline-exceeded"
            return Verdict(problem=(slug, "the deadline passed while the request waited", None))
        try:
            outcome = await self._loop(budget, retryable)
        except AgencyRejected as exc:
            return Verdict(RequestStatus.REJECTED, problem=(exc.slug, exc.detail, exc.code))
        except AgencyProtocolError as exc:
            return self._unknown_if_unreconciled(self._protocol_error(exc))
        except AgencyMisconfigured as exc:
            log.error("agency.misconfigured", detail=exc.detail, code=exc.code)
            return self._unknown_if_unreconciled(Verdict(problem=("agency-misconfigured", exc.detail, exc.code)))
        except _CannotReconcile as exc:
            return Verdict(problem=("agency-outcome-unknown", exc.cause.detail, exc.cause.code))
        except _Deferred as exc:
            return self._defer_or_fail(exc.delay, exc.reason)
        except _FailFast as exc:
            return Verdict(problem=("agency-unavailable", exc.reason, None))
        except (TransientAgencyError, AmbiguousOutcome) as exc:
            reason = f"{exc.detail} (after {self._calls} attempts)"
            if budget.denied:
                reason += f"; the {self._adapter.agency} retry budget is spent"
                self._refused_retry("budget")
            elif self._calls < self._policy.attempts and time.monotonic() < self._deadline:
                self._refused_retry("deadline")
            if self.submission:
                return self._defer_or_fail(self._policy.defer, reason, code=exc.code)
            if time.monotonic() >= self._deadline:
                return Verdict(problem=("deadline-exceeded", reason, exc.code))
            return Verdict(problem=("agency-unavailable", reason, exc.code))
        except ContractError as exc:
            return Verdict(problem=("validation-error", exc.detail, None))
        except Exception:
            log.exception("adapter.defect")
            return Verdict(problem=("internal-error", f"the {self._adapter.agency} adapter failed unexpectedly", None))
        if isinstance(outcome, Completed):
            return Verdict(RequestStatus.COMPLETED, result=outcome.result.model_dump(mode="json"),
                           reference=outcome.agency_reference)  # fmt: skip
        return Verdict(RequestStatus.WAITING_AGENCY, reference=outcome.agency_reference)

    def _unknown_if_unreconciled(self, verdict: Verdict) -> Verdict:
        """A final error met while an earlier send of this submission is still unconfirmed (a reconcile call the
        adapter could not read, say) does not say the agency lacks it: the request ends ``agency-outcome-unknown``,
        the cause in its detail, so nobody sends it again as if it had never arrived."""
        if not self._needs_reconcile or verdict.problem is None:
            return verdict
        _, detail, code = verdict.problem
        detail = f"an earlier send may have reached the agency; {detail}"
        return Verdict(problem=("agency-outcome-unknown", detail, code))

    def _protocol_error(self, exc: AgencyProtocolError) -> Verdict:
        """A reply the adapter cannot read: final, logged and counted by names only (never the reply's values)."""
        agency, method = self._adapter.agency, _label(exc.method)
        log.error("agency.protocol_error", agency=agency, method=method, field=_label(exc.field))
        self._telemetry.metrics.agency_protocol_errors.labels(agency, method).inc()
        return Verdict(problem=("agency-protocol-error", exc.detail, exc.code))

    def _defer_or_fail(self, delay: float, reason: str, *, code: str | None = None) -> Verdict:
        if not self.submission:
            return Verdict(problem=("agency-unavailable", reason, code))
        if time.monotonic() + delay >= self._deadline:
            slug = "agency-outcome-unknown" if self._needs_reconcile else "deadline-exceeded"
            return Verdict(problem=(slug, reason, code))
        return Verdict(RequestStatus.ACCEPTED, defer=delay, problem=None, reason=reason)

    def _refused_retry(self, reason: str) -> None:
        """Count a retry the run did not make: ``budget`` (the agency's retry budget) or ``deadline`` (no time)."""
        self._telemetry.metrics.retries_refused.labels(self._adapter.agency, reason).inc()

    async def _loop(self, budget: WithinBudget, retryable: tuple[type[Exception], ...]) -> Outcome:
        self._guard.budget.record_call()
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self._policy.attempts) | PastDeadline(self._deadline),
            wait=Backoff(self._policy),
            retry=retry_if_exception_type(retryable) & budget,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        ):
            await self._flush()
            with attempt:
                if self._needs_reconcile:
                    found = await self._reconcile()
                    if found is not None:
                        return found
                    self._needs_reconcile = False
                return await self._attempt()
        raise AssertionError("tenacity ends with a result or an exception")  # pragma: no cover

    def _before_sleep(self, state: RetryCallState) -> None:
        """A retry is an event on the request's dispatch span and a count in the metrics."""
        exc = state.outcome.exception() if state.outcome else None
        trace.get_current_span().add_event(
            "retry",
            {"mpp.attempt": self._number, "mpp.delay_s": round(state.upcoming_sleep, 3),
             "mpp.outcome": attempt_outcome(exc) if exc else "unknown"},
        )  # fmt: skip
        self._telemetry.metrics.retries.labels(self._adapter.agency, self._request.service).inc()

    def _call(self) -> Call:
        return Call(
            request_id=self._request.id,
            service=self._request.service,
            nik=self._request.envelope["applicant"]["nik"],
            payload=self._payload,
            reference=self._request.id,
            attempt=self._number,
            deadline=self._deadline,
        )

    def _budget(self) -> float:
        return max(0.001, min(self._policy.call_timeout, self._deadline - time.monotonic()))

    async def _reconcile(self) -> Outcome | None:
        """Ask the agency whether it already has this submission; the question is an entry of the record.

        Found: the entry (``reconciled``) is recorded with the verdict. Not found: it (``not_at_agency``) is
        recorded at once, and the submission is sent again. A question without an answer is recorded as its class.
        """
        agency = self._adapter.agency
        self._number += 1
        began = _utcnow()
        try:
            async with asyncio.timeout(self._budget()):
                found = await self._adapter.reconcile(self._call())
        except TimeoutError as exc:
            error = TransientAgencyError(f"reconciliation with {agency} timed out", agency=agency, cause="timeout")
            self._pending = self._entry(began, attempt_outcome(error), _detail(error))
            raise error from exc
        except AmbiguousOutcome as exc:
            self._pending = self._entry(began, AttemptOutcome.AMBIGUOUS, "reconciliation: " + _detail(exc))
            raise _CannotReconcile(exc) from exc
        except Exception as exc:
            self._pending = self._entry(began, attempt_outcome(exc), "reconciliation: " + _detail(exc))
            raise
        log.info("submission.reconciled", found=found is not None)
        if found is not None:
            self._pending = self._entry(began, AttemptOutcome.RECONCILED, f"{agency} already had the submission")
            return found
        self._pending = self._entry(began, AttemptOutcome.NOT_AT_AGENCY, f"{agency} did not have it; sent again")
        await self._flush()
        return None

    def _entry(self, began: dt.datetime, outcome: AttemptOutcome, detail: str | None) -> StoredAttempt:
        return StoredAttempt(self._number, began, _utcnow(), outcome, detail)

    async def _admit(self) -> None:
        """Rate limit and circuit breaker: wait, defer or fail fast before calling the agency."""
        delay = self._guard.limiter.delay()
        if delay > 0:
            if time.monotonic() + delay >= self._deadline:
                raise self._blocked(f"the {self._adapter.agency} rate limit leaves no time before the deadline", delay)
            await self._sleep(delay)
        if not self._guard.breaker.allow():
            agency = self._adapter.agency
            self._guard.fast_failures += 1
            self._telemetry.metrics.circuit_fast_failures.labels(agency).inc()
            decision = "defer" if self.submission else "fail"
            trace.get_current_span().add_event("circuit.open", {"mpp.agency": agency, "mpp.decision": decision})
            raise self._blocked(f"the {agency} circuit is open", max(1.0, self._guard.breaker.retry_after()))

    def _blocked(self, reason: str, delay: float) -> Exception:
        return _Deferred(delay, reason) if self.submission else _FailFast(reason)

    async def _attempt(self) -> Outcome:
        agency, service = self._adapter.agency, self._request.service
        if self._first_as_event and self._calls == 0:
            span, began = trace.get_current_span(), time.time_ns()
            try:
                return await self._attempt_inner()
            finally:
                outcome_class, called = self._attempt_ended(agency, service)
                if called and outcome_class not in _CALL_OK:  # it failed: a span of its own, as every retry has
                    failed = self._telemetry.tracer.start_span(
                        f"attempt {service}", start_time=began,
                        attributes={"mpp.agency": agency, "mpp.service": service, "mpp.attempt": self._number,
                                    "mpp.outcome": outcome_class},
                    )  # fmt: skip
                    failed.set_status(trace.Status(trace.StatusCode.ERROR, str(outcome_class)))
                    failed.end()
                elif span.is_recording():  # the call's span ends at a 202 while the run goes on
                    span.add_event("attempt", {"mpp.agency": agency, "mpp.attempt": self._number,
                                               "mpp.outcome": outcome_class})  # fmt: skip
        with self._telemetry.tracer.start_as_current_span(
            f"attempt {service}",
            attributes={"mpp.agency": agency, "mpp.service": service, "mpp.attempt": self._number + 1},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                outcome = await self._attempt_inner()
            finally:
                outcome_class, called = self._attempt_ended(agency, service)
                span.set_attribute("mpp.outcome", outcome_class)
                if called and outcome_class not in _CALL_OK:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, str(outcome_class)))
            return outcome

    def _attempt_ended(self, agency: str, service: str) -> tuple[str, bool]:
        """The attempt's outcome class (``not_sent`` when there is no entry yet), and whether it made a call (then
        it is counted)."""
        if self._pending is None:
            return "not_sent", False
        outcome_class = self._pending.outcome
        called = self._pending.number == self._number
        if called:
            self._telemetry.metrics.agency_calls.labels(agency, service, outcome_class).inc()
        return outcome_class, called

    async def _attempt_inner(self) -> Outcome:
        await self._admit()
        self._number += 1
        self._calls += 1
        began, started = _utcnow(), time.monotonic()
        guard = self._guard  # the run holds one of the agency's permits (the dispatcher took it)
        guard.in_flight += 1
        try:
            async with asyncio.timeout(self._budget()):
                outcome = await self._adapter.execute(self._call())
        except TimeoutError as exc:
            agency = self._adapter.agency
            timeout = TransientAgencyError(f"the {agency} call timed out", agency=agency, sent=True, cause="timeout")
            error = self._classify(timeout)
            self._record(began, error, started, healthy=False, cause=timeout)
            raise error from exc
        except TransientAgencyError as exc:
            error = self._classify(exc)
            self._record(began, error, started, healthy=False, cause=exc)
            raise error from exc
        except Exception as exc:
            # A final answer (rejection, misconfiguration) means the agency itself is up.
            self._record(began, exc, started, healthy=not isinstance(exc, AmbiguousOutcome))
            # An unreadable reply to a submission does not say whether the agency took it.
            if isinstance(exc, AmbiguousOutcome) or (self.submission and isinstance(exc, AgencyProtocolError)):
                self._needs_reconcile = True
            raise
        finally:
            guard.in_flight -= 1
        waiting = isinstance(outcome, WaitingAgency)
        outcome_class = AttemptOutcome.WAITING_AGENCY if waiting else AttemptOutcome.COMPLETED
        self._pending = StoredAttempt(self._number, began, _utcnow(), outcome_class, None)
        self._observe(True, started)
        return outcome

    def _classify(self, exc: TransientAgencyError) -> Exception:
        # A submission that may have reached the agency is never resent blindly: reconcile first.
        if self.submission and exc.sent:
            self._needs_reconcile = True
            return AmbiguousOutcome(exc.detail, agency=exc.agency, code=exc.code)
        return exc

    def _record(
        self, began: dt.datetime, exc: BaseException, started: float, *, healthy: bool,
        cause: BaseException | None = None,
    ) -> None:
        """Make the call's entry and observe it; a failed call is kept for operators with its ``cause``'s words."""
        outcome = attempt_outcome(exc)
        self._pending = StoredAttempt(self._number, began, _utcnow(), outcome, _detail(exc))
        if outcome in _PROBLEMS:
            problem = "agency-protocol-error" if isinstance(exc, AgencyProtocolError) else _PROBLEMS[outcome]
            self._guard.failed(outcome.value, failure_cause(cause or exc, self._adapter.agency), problem)
        self._observe(healthy, started)

    def _observe(self, healthy: bool, started: float) -> None:
        elapsed = time.monotonic() - started
        self._guard.observe(healthy, elapsed)
        self._telemetry.metrics.agency_seconds.labels(self._adapter.agency, self._request.service).observe(elapsed)


def attempt_outcome(exc: BaseException) -> AttemptOutcome:
    """The outcome class of an attempt that raised ``exc``."""
    if isinstance(exc, AgencyRejected):
        return AttemptOutcome.REJECTED
    if isinstance(exc, AgencyMisconfigured | ContractError):
        return AttemptOutcome.MISCONFIGURED
    if isinstance(exc, AmbiguousOutcome):
        return AttemptOutcome.AMBIGUOUS
    return AttemptOutcome.TRANSIENT


#: Outcome classes of a call that went well (the agency answered, whatever it said).
_CALL_OK = frozenset({AttemptOutcome.COMPLETED, AttemptOutcome.WAITING_AGENCY, AttemptOutcome.REJECTED})

#: The problem type a failed call leads to when it is the last, by outcome class.
_PROBLEMS = {
    AttemptOutcome.TRANSIENT: "agency-unavailable",
    AttemptOutcome.AMBIGUOUS: "agency-outcome-unknown",
    AttemptOutcome.MISCONFIGURED: "agency-misconfigured",
}


def failure_cause(exc: BaseException, agency: str = "") -> str:
    """What went wrong in a failed call, in a few words operators group by: ``timeout``, ``http 503``, ...

    The adapter's own cause when it names one; else the agency's code; else the detail without the agency's name.
    Never personal data: causes are fixed words, codes and details that pass through :func:`redact`.
    """
    cause = getattr(exc, "cause", None)
    if isinstance(cause, str) and cause:
        return redact(cause)[:40]
    code = getattr(exc, "code", None)
    if code:
        return redact(f"code {code}")[:40]
    detail = str(getattr(exc, "detail", "") or type(exc).__name__)
    if agency and detail.startswith(agency):
        detail = detail[len(agency) :].lstrip(": ")
    return redact(detail)[:60] or type(exc).__name__


_LABEL = re.compile(r"^[A-Za-z0-9_.{}/-]{1,64}$")


def _label(name: str) -> str:
    """An adapter's method or field name as a bounded metric label: names of that shape pass, others are "other"."""
    return name if _LABEL.match(name) else "other"


def _detail(exc: BaseException) -> str:
    detail = getattr(exc, "detail", None) or type(exc).__name__
    code = getattr(exc, "code", None)
    return redact(f"{detail} (code {code})" if code and code not in detail else detail)
