"""The dispatcher: takes accepted requests under a lease, runs the adapter with the service's retry policy, and
records every attempt and the outcome.

Requests reach it two ways: the API hands over the id of a request it just persisted, and a sweeper finds
requests nobody is working on (after a restart, or when a lease expired). A claim in the store is the only thing
that lets a worker run a request, so an id queued twice still runs once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from adapters import (
    AgencyMisconfigured,
    AgencyRejected,
    AmbiguousOutcome,
    Call,
    Completed,
    ContractError,
    Registry,
    TransientAgencyError,
    WaitingAgency,
)
from contracts import AttemptOutcome, ServiceKind

from ._problems import DEFAULT_PROBLEMS, ProblemCatalog
from ._redact import redact
from ._store import Store, StoredAttempt, StoredRequest

__all__ = ["Dispatcher", "RetryPolicy"]

log = structlog.get_logger("gateway.dispatch")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How one kind of service is retried: data, not code paths."""

    #: Attempts in all, the first included.
    attempts: int = 3
    #: Full-jitter exponential backoff: the n-th wait is uniform in [0, min(max_backoff, initial * 2**n)].
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    #: Upper bound of one agency call.
    call_timeout: float = 10.0


DEFAULT_POLICIES: dict[ServiceKind, RetryPolicy] = {
    ServiceKind.LOOKUP: RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=2.0, call_timeout=10.0),
    ServiceKind.SUBMISSION: RetryPolicy(attempts=8, initial_backoff=1.0, max_backoff=60.0, call_timeout=30.0),
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Retry:
    """The tenacity pieces of one request: full-jitter backoff that honours Retry-After, within the deadline."""

    def __init__(self, policy: RetryPolicy, deadline: float) -> None:
        self._jitter = wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)
        self._deadline = deadline

    def wait(self, state: RetryCallState) -> float:
        delay = float(self._jitter(state))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientAgencyError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay



class _PastDeadline(stop_base):
    """Stop when the next attempt could not start before the request's deadline."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        return time.monotonic() + state.upcoming_sleep >= self._deadline


class Dispatcher:
    """Runs accepted requests through their adapters, ``concurrency`` at a time."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        owner: str,
        concurrency: int = 64,
        lease_seconds: float = 60.0,
        sweep_interval: float = 5.0,
        policies: dict[ServiceKind, RetryPolicy] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        problems: ProblemCatalog = DEFAULT_PROBLEMS,
    ) -> None:
        self._problems = problems
        self._store = store
        self._registry = registry
        self._owner = owner
        self._concurrency = concurrency
        self._lease_seconds = lease_seconds
        self._sweep_interval = sweep_interval
        self._policies = {**DEFAULT_POLICIES, **(policies or {})}
        self._sleep = sleep
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: Requests being run, each with a future resolved when its run ends.
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._closing = False

    @property
    def owner(self) -> str:
        """The lease owner name of this process."""
        return self._owner

    async def start(self) -> None:
        """Start the workers and the sweeper; the first sweep picks up work left by an earlier process."""
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

    def _notify(self, request_id: str) -> None:
        for fut in self._waiters.pop(request_id, []):
            if not fut.done():
                fut.set_result(None)

    async def _sweeper(self) -> None:
        while not self._closing:
            try:
                for request_id in await self._store.due(limit=1000):
                    self.submit(request_id)
            except Exception:  # the store may be briefly unavailable; the next sweep tries again
                log.warning("dispatch.sweep_failed", exc_info=True)
            await asyncio.sleep(self._sweep_interval)

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
        await self._run(request)

    async def _renewer(self) -> None:
        """Keep the leases of running requests, so that only a dead process's work is ever taken over."""
        while not self._closing:
            await asyncio.sleep(self._lease_seconds / 3)
            for request_id in list(self._inflight):
                try:
                    await self._store.renew(request_id, self._owner, self._lease_seconds)
                except Exception:  # the next round tries again; the lease outlives two missed rounds
                    log.warning("dispatch.renew_failed", request_id=request_id, exc_info=True)

    async def _run(self, request: StoredRequest) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request.id, trace_id=request.trace_id, service=request.service, agency=request.agency,
            client=request.client_id,
        )
        entry = self._registry.services.get(request.service)
        if entry is None:
            await self._finish(request, "failed", None, problem=("agency-unavailable", "no adapter serves it", None))
            return
        adapter, service = entry
        try:
            payload = service.payload_model.model_validate(request.envelope.get("payload", {}))
        except ValidationError:
            await self._finish(request, "failed", None, problem=("validation-error", "stored payload invalid", None))
            return
        kind = ServiceKind(request.kind)
        policy = self._policies[kind]
        deadline = time.monotonic() + (request.deadline_at - time.time())
        if deadline <= time.monotonic():
            await self._finish(request, "failed", None, problem=("deadline-exceeded", "deadline passed in queue", None))
            return
        retry = _Retry(policy, deadline)
        number = request.attempt_count
        pending: StoredAttempt | None = None
        outcome: tuple[str, dict[str, Any] | None, str | None, tuple[str, str, str | None] | None]
        started = time.monotonic()
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(policy.attempts) | _PastDeadline(deadline),
                wait=retry.wait,
                retry=retry_if_exception_type(TransientAgencyError),
                sleep=self._sleep,
                reraise=True,
            ):
                if pending is not None:
                    await self._store.record_attempt(request.id, pending)
                    pending = None
                number += 1
                call = Call(
                    request_id=request.id,
                    service=request.service,
                    nik=request.envelope["applicant"]["nik"],
                    payload=payload,
                    reference=request.id,
                    attempt=number,
                    deadline=deadline,
                )
                began = _utcnow()
                with attempt:
                    try:
                        result = await self._call(adapter.execute, call, policy, deadline, kind)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        pending = StoredAttempt(number, began, _utcnow(), _attempt_outcome(exc), _detail(exc))
                        raise
                    if isinstance(result, WaitingAgency):
                        outcome_class = AttemptOutcome.WAITING_AGENCY.value
                    else:
                        outcome_class = AttemptOutcome.COMPLETED.value
                    pending = StoredAttempt(number, began, _utcnow(), outcome_class, None)
        except AgencyRejected as exc:
            slug = exc.slug if exc.slug in self._problems else "agency-rejected"
            outcome = ("rejected", None, None, (slug, exc.detail, exc.code))
        except AgencyMisconfigured as exc:
            log.error(
                "agency.misconfigured",
                agency=adapter.agency,
                service=request.service,
                detail=exc.detail,
                code=exc.code,
                request_id=request.id,
            )
            outcome = ("failed", None, None, ("agency-misconfigured", exc.detail, exc.code))
        except AmbiguousOutcome as exc:
            outcome = ("failed", None, None, ("agency-outcome-unknown", exc.detail, exc.code))
        except TransientAgencyError as exc:
            slug = "deadline-exceeded" if time.monotonic() >= deadline else "agency-unavailable"
            detail = f"{exc.detail} (after {number - request.attempt_count} attempts)"
            outcome = ("failed", None, None, (slug, detail, exc.code))
        except ContractError as exc:
            outcome = ("failed", None, None, ("validation-error", exc.detail, None))
        except Exception:
            log.exception("adapter.defect", agency=adapter.agency, service=request.service, request_id=request.id)
            outcome = ("failed", None, None, ("internal-error", "the adapter failed unexpectedly", None))
        else:
            if isinstance(result, Completed):
                outcome = (
                    "completed",
                    result.result.model_dump(mode="json"),
                    result.agency_reference,
                    None,
                )
            else:
                outcome = ("waiting_agency", None, result.agency_reference, None)
        status, result_json, reference, problem = outcome
        await self._finish(request, status, pending, result=result_json, reference=reference, problem=problem)
        log.info(
            "request.finished",
            request_id=request.id,
            service=request.service,
            agency=adapter.agency,
            client=request.client_id,
            status=status,
            attempts=number - request.attempt_count,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )

    async def _call(
        self,
        execute: Callable[[Call], Awaitable[Completed | WaitingAgency]],
        call: Call,
        policy: RetryPolicy,
        deadline: float,
        kind: ServiceKind,
    ) -> Completed | WaitingAgency:
        budget = min(policy.call_timeout, deadline - time.monotonic())
        try:
            async with asyncio.timeout(max(budget, 0.001)):
                return await execute(call)
        except TimeoutError as exc:
            error = TransientAgencyError("the agency call timed out", sent=True)
            raise self._for_kind(error, kind) from exc
        except TransientAgencyError as exc:
            raise self._for_kind(exc, kind) from exc

    @staticmethod
    def _for_kind(exc: TransientAgencyError, kind: ServiceKind) -> Exception:
        # A submission that may have reached the agency is never resent blindly.
        if kind is ServiceKind.SUBMISSION and exc.sent:
            return AmbiguousOutcome(exc.detail, agency=exc.agency, code=exc.code)
        return exc

    async def _finish(
        self,
        request: StoredRequest,
        status: str,
        attempt: StoredAttempt | None,
        *,
        result: dict[str, Any] | None = None,
        reference: str | None = None,
        problem: tuple[str, str, str | None] | None = None,
    ) -> None:
        problem_json = None
        if problem is not None:
            slug, detail, code = problem
            problem_json = self._problems.build(
                slug, detail, instance=f"/v1/requests/{request.id}", trace_id=request.trace_id, code=code
            ).model_dump(mode="json", exclude_none=True)
        owned = await self._store.finish(
            request.id,
            self._owner,
            status=status,
            attempt=attempt,
            result=result,
            agency_reference=reference,
            problem=problem_json,
        )
        if not owned:
            log.warning("dispatch.lease_lost", request_id=request.id)
        self._notify(request.id)


def _attempt_outcome(exc: BaseException) -> str:
    if isinstance(exc, AgencyRejected):
        return AttemptOutcome.REJECTED.value
    if isinstance(exc, AgencyMisconfigured | ContractError):
        return AttemptOutcome.MISCONFIGURED.value
    if isinstance(exc, AmbiguousOutcome):
        return AttemptOutcome.AMBIGUOUS.value
    return AttemptOutcome.TRANSIENT.value


def _detail(exc: BaseException) -> str:
    detail = getattr(exc, "detail", None) or type(exc).__name__
    code = getattr(exc, "code", None)
    return redact(f"{detail} (code {code})" if code else detail)
