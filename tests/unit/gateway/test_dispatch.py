"""The dispatcher: retry policy by outcome class, deadlines, recovery after a crash, graceful stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from adapters import AgencyMisconfigured, AgencyRejected, Completed, ContractError, Registry, TransientAgencyError
from contracts import ServiceKind
from gateway import BUILTIN_PROBLEMS, Dispatcher, NewRequest, ProblemCatalog, RetryPolicy, SqliteStore
from gateway.dispatch import AgencyPolicy, RetryBudget
from tests.fakes import NIK, FakeAdapter, ThingResult


def new(
    request_id: str, *, service: str = "fake.thing.lookup", kind: str = "lookup", deadline: float = 30.0
) -> NewRequest:
    return NewRequest(
        id=request_id,
        client_id="counter-a",
        service=service,
        agency="fake",
        kind=ServiceKind(kind),
        mpp_id="mpp-a",
        desk="d",
        operator="o",
        nik_masked="3201**********01",
        envelope={"applicant": {"nik": NIK}, "payload": {"value": "v"}},
        trace_id=None,
        traceparent=None,
        created_at=dt.datetime.now(dt.UTC),
        deadline_at=time.time() + deadline,
    )


class Harness:
    def __init__(self, store: SqliteStore, adapter: FakeAdapter) -> None:
        self.store = store
        self.adapter = adapter
        self.sleeps: list[float] = []
        registry = Registry()
        registry.add(adapter)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        policy = RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=1.0, call_timeout=0.3)
        self.dispatcher = Dispatcher(
            store,
            registry,
            owner="test",
            concurrency=2,
            lease_seconds=3,
            sweep_interval=0.05,
            policies={ServiceKind.LOOKUP: policy, ServiceKind.SUBMISSION: policy},
            sleep=sleep,
            problems=ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()]),
        )

    async def run(self, request: NewRequest) -> dict[str, object]:
        await self.store.insert(request)
        waiter = self.dispatcher.waiter(request.id)
        self.dispatcher.submit(request.id)
        await asyncio.wait_for(waiter, 5)
        row = await self.store.get(request.id)
        assert row is not None
        return {
            "status": row.status,
            "problem": row.problem,
            "attempts": [a.outcome for a in row.attempts],
            "result": row.result,
        }


@pytest.fixture
async def harness(tmp_path: Path) -> Harness:
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    h = Harness(store, FakeAdapter())
    await h.dispatcher.start()
    yield h  # type: ignore[misc]
    await h.dispatcher.stop(0.5)
    await store.aclose()


async def test_transient_errors_are_retried_until_success(harness: Harness) -> None:
    """Two transient failures then success: completed on the third attempt, each attempt recorded."""
    harness.adapter.script = [TransientAgencyError("503"), TransientAgencyError("503")]
    out = await harness.run(new("r1"))
    assert out["status"] == "completed"
    assert out["attempts"] == ["transient", "transient", "completed"]
    assert out["result"] == {"echoed": "v", "attempt": 3}
    assert len(harness.sleeps) == 2 and all(0 <= s <= 1.0 for s in harness.sleeps)


async def test_retry_after_is_honoured(harness: Harness) -> None:
    """A Retry-After from the agency sets the floor of the backoff."""
    harness.adapter.script = [TransientAgencyError("429", retry_after=2.5)]
    out = await harness.run(new("r1"))
    assert out["status"] == "completed"
    assert harness.sleeps == [2.5]


async def test_exhausted_retries_fail_with_agency_unavailable(harness: Harness) -> None:
    """Transient failures past the attempt limit fail the request with the reason."""
    harness.adapter.script = [TransientAgencyError("503")] * 3
    out = await harness.run(new("r1"))
    assert out["status"] == "failed"
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == "/problems/agency-unavailable"
    assert "after 3 attempts" in problem["detail"]
    assert len(harness.adapter.calls) == 3


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (AgencyRejected("no such NIK", code="13", slug="thing-not-found"), "rejected", "thing-not-found"),
        (AgencyRejected("something new", code="77", slug="unregistered-slug"), "rejected", "agency-rejected"),
        (AgencyMisconfigured("login failed", code="03"), "failed", "agency-misconfigured"),
        (ValueError("adapter bug"), "failed", "internal-error"),
        (ContractError("payload does not fit"), "failed", "validation-error"),
    ],
)
async def test_final_outcomes_are_not_retried(harness: Harness, error: Exception, status: str, slug: str) -> None:
    """Rejections, misconfiguration and adapter defects end the request after one attempt."""
    harness.adapter.script = [error]
    out = await harness.run(new("r1"))
    assert out["status"] == status
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == f"/problems/{slug}"
    assert len(harness.adapter.calls) == 1
    # The dispatcher keeps working afterwards.
    assert (await harness.run(new("r2")))["status"] == "completed"


async def test_submission_sent_without_answer_is_not_resent(harness: Harness) -> None:
    """A submission whose call may have reached the agency is not resent blindly."""
    harness.adapter.script = [TransientAgencyError("read timeout", sent=True)]
    out = await harness.run(new("r1", service="fake.thing.submit", kind="submission"))
    assert out["status"] == "failed"
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == "/problems/agency-outcome-unknown"
    assert len(harness.adapter.calls) == 1


async def test_submission_refused_connection_is_retried(harness: Harness) -> None:
    """A submission that never reached the agency (connection refused) is retried."""
    harness.adapter.script = [TransientAgencyError("refused", sent=False)]
    out = await harness.run(new("r1", service="fake.thing.submit", kind="submission"))
    assert out["status"] == "completed"
    assert len(harness.adapter.calls) == 2


async def test_slow_call_is_cut_at_the_call_timeout_and_retried(harness: Harness) -> None:
    """A call slower than the policy's call timeout counts as transient and is retried."""
    harness.adapter.script = [5.0]
    out = await harness.run(new("r1"))
    assert out["status"] == "completed"
    assert out["attempts"] == ["transient", "completed"]


async def test_request_past_its_deadline_is_failed_without_a_call(harness: Harness) -> None:
    """A request whose deadline passed while queued fails as deadline-exceeded and never reaches the agency."""
    out = await harness.run(new("r1", deadline=-1))
    assert out["status"] == "failed"
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == "/problems/deadline-exceeded"
    assert harness.adapter.calls == []


async def test_work_left_by_a_dead_process_is_resumed(tmp_path: Path) -> None:
    """Accepted requests and expired leases found in the store at start are run to completion."""
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    await store.insert(new("waiting"))
    await store.insert(new("orphaned"))
    assert await store.claim("orphaned", "dead-process", 0.05) is not None
    await asyncio.sleep(0.1)
    h = Harness(store, FakeAdapter())
    await h.dispatcher.start()
    try:
        for _ in range(100):
            rows = [await store.get(i) for i in ("waiting", "orphaned")]
            if all(r is not None and r.status == "completed" for r in rows):
                break
            await asyncio.sleep(0.05)
        assert [r.status for r in rows if r is not None] == ["completed", "completed"]
    finally:
        await h.dispatcher.stop(0.5)
        await store.aclose()


async def test_stop_releases_in_flight_leases(tmp_path: Path) -> None:
    """A request still running when the grace period ends goes back to the queue, not lost."""
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    adapter = FakeAdapter()
    adapter.release.clear()
    h = Harness(store, adapter)
    await h.dispatcher.start()
    await store.insert(new("r1"))
    h.dispatcher.submit("r1")
    for _ in range(100):
        if adapter.calls:
            break
        await asyncio.sleep(0.01)
    await h.dispatcher.stop(grace=0.05)
    row = await store.get("r1")
    await store.aclose()
    assert row is not None and row.status == "accepted" and row.lease_owner is None


async def test_stop_lets_short_in_flight_requests_finish(tmp_path: Path) -> None:
    """A request that finishes within the grace period is completed, not released."""
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    adapter = FakeAdapter()
    adapter.script = [0.1]
    h = Harness(store, adapter)
    await h.dispatcher.start()
    await store.insert(new("r1"))
    h.dispatcher.submit("r1")
    for _ in range(100):
        if adapter.calls:
            break
        await asyncio.sleep(0.01)
    await h.dispatcher.stop(grace=2)
    row = await store.get("r1")
    await store.aclose()
    assert row is not None and row.status == "completed"


def submission(request_id: str, deadline: float = 3600.0) -> NewRequest:
    return new(request_id, service="fake.thing.submit", kind="submission", deadline=deadline)


async def test_ambiguous_submission_found_by_reconcile_is_not_resent(harness: Harness) -> None:
    """After a timeout-after-send, the agency is asked first; it has the submission, so nothing is resent."""
    harness.adapter.script = [TransientAgencyError("read timeout", sent=True)]
    harness.adapter.reconcile_script = [Completed(result=ThingResult(echoed="v", attempt=1), agency_reference="R")]
    out = await harness.run(submission("s1"))
    assert out["status"] == "completed"
    assert len(harness.adapter.calls) == 1
    assert len(harness.adapter.reconciled) == 1
    assert harness.adapter.reconciled[0].reference == "s1"
    assert out["attempts"] == ["ambiguous", "reconciled"]


async def test_ambiguous_submission_unknown_to_the_agency_is_resent_once(harness: Harness) -> None:
    """When the agency does not have it, the submission is resent with the same reference."""
    harness.adapter.script = [TransientAgencyError("reset", sent=True)]
    harness.adapter.reconcile_script = [None]
    out = await harness.run(submission("s1"))
    assert out["status"] == "completed"
    assert [c.reference for c in harness.adapter.calls] == ["s1", "s1"]
    assert out["attempts"] == ["ambiguous", "not_at_agency", "completed"]


async def test_reconcile_that_cannot_answer_now_defers_the_submission(harness: Harness) -> None:
    """A reconciliation that fails transiently keeps the submission queued, marked for reconciling."""
    harness.adapter.script = [TransientAgencyError("reset", sent=True)]
    harness.adapter.reconcile_script = [TransientAgencyError("503")] * 5
    await harness.store.insert(submission("s1"))
    harness.dispatcher.submit("s1")
    for _ in range(200):
        row = await harness.store.get("s1")
        if row is not None and row.status == "accepted" and row.not_before:
            break
        await asyncio.sleep(0.01)
    assert row is not None and row.status == "accepted"
    assert row.needs_reconcile and row.not_before is not None
    assert len(harness.adapter.calls) == 1


async def test_submission_taken_over_from_a_dead_owner_is_reconciled_first(tmp_path: Path) -> None:
    """A submission whose previous owner died mid-run is looked up at the agency before any send."""
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    await store.insert(submission("s1"))
    await store.claim("s1", "dead-process", 0.05)
    await asyncio.sleep(0.1)
    adapter = FakeAdapter()
    adapter.reconcile_script = [Completed(result=ThingResult(echoed="v", attempt=1), agency_reference="R")]
    h = Harness(store, adapter)
    await h.dispatcher.start()
    try:
        for _ in range(200):
            row = await store.get("s1")
            if row is not None and row.status == "completed":
                break
            await asyncio.sleep(0.02)
        assert row is not None and row.status == "completed"
        assert adapter.calls == [] and len(adapter.reconciled) == 1
    finally:
        await h.dispatcher.stop(0.5)
        await store.aclose()


async def test_open_circuit_fails_lookups_fast_and_defers_submissions(harness: Harness) -> None:
    """With the agency's circuit open, a lookup fails at once and a submission waits in the queue."""
    guard = harness.dispatcher.guards["fake"]
    for _ in range(guard.policy.breaker_min_calls):
        guard.breaker.record(False)
    out = await harness.run(new("l1"))
    assert out["status"] == "failed"
    problem = out["problem"]
    assert isinstance(problem, dict) and "circuit is open" in problem["detail"]
    await harness.store.insert(submission("s1"))
    harness.dispatcher.submit("s1")
    for _ in range(200):
        row = await harness.store.get("s1")
        if row is not None and row.not_before:
            break
        await asyncio.sleep(0.01)
    assert row is not None and row.status == "accepted" and row.not_before is not None
    assert harness.adapter.calls == []


async def test_spent_retry_budget_stops_retries(harness: Harness) -> None:
    """Once the agency's retry budget is spent, a failing lookup is not retried and says why."""
    guard = harness.dispatcher.guards["fake"]
    guard.budget = RetryBudget(AgencyPolicy(budget_ratio=0.0, budget_min_retries=0))
    harness.adapter.script = [TransientAgencyError("503")] * 3
    out = await harness.run(new("l1"))
    problem = out["problem"]
    assert isinstance(problem, dict) and "retry budget" in problem["detail"]
    assert len(harness.adapter.calls) == 1
