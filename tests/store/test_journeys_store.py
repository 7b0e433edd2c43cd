"""Journeys in the store, against every implementation: a step's request and its step row change together, every
journey change is conditional (two replicas cannot both make it), and the journey's webhook uses the outbox."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from contracts import JourneyStatus, RequestStatus
from gateway import Store
from gateway.store import AuditEvent, IdempotencyMismatch, NewJourney, NewWebhook, StepLink, StepTaken
from tests.store.support import Backend, Raw, attempt, new

NOW = dt.datetime.now(dt.UTC)


def journey(journey_id: str = "jrn_1", *, steps: tuple[str, ...] = ("a", "b"), budget: float = 60.0) -> NewJourney:
    """A journey as the engine stores it when it starts."""
    return NewJourney(
        id=journey_id,
        journey="test.flow",
        client_id="counter-a",
        mpp_id="mpp-a",
        desk="loket-01",
        operator="op-7",
        nik_masked="3201**********01",
        envelope={"applicant": {"nik": "3201014708900001"}, "payload": {"nib": "1234"}, "callback_url": None},
        steps=steps,
        trace_id="1" * 32,
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        visit_budget=budget,
        created_at=dt.datetime.now(dt.UTC),
    )


def step_event(request_id: str, journey_id: str) -> AuditEvent:
    return AuditEvent("journey.step", dt.datetime.now(dt.UTC), "counter-a", "mpp-a", "loket-01", "op-7",
                      "fake.thing.lookup", request_id, None, journey_id)  # fmt: skip


async def start_step(store: Store, request_id: str, step: str = "a", run: int = 1, journey_id: str = "jrn_1") -> None:
    """Store the step's request claimed by ``w`` (as the acceptance path does with a free worker)."""
    link = StepLink(journey_id, step, run, step_event(request_id, journey_id))
    key = f"journey {journey_id} {step} {run}"
    await store.insert(new(request_id), idempotency=(key, "fp"), lease=("w", 30.0), step=link)


async def test_journey_round_trips_with_its_steps_pending(store: Store) -> None:
    """A stored journey reads back running, every step pending in the definition's order, its envelope whole."""
    assert await store.insert_journey(journey(steps=("b", "a", "c"))) is None
    found = await store.get_journey("jrn_1")
    assert found is not None
    assert (found.status, found.journey, found.nik_masked, found.visit_budget) == ("running", "test.flow",
                                                                                  "3201**********01", 60.0)
    assert found.envelope["payload"] == {"nib": "1234"}
    assert [(s.name, s.status, s.run, s.request_id) for s in found.steps] == [
        ("b", "pending", 0, None), ("a", "pending", 0, None), ("c", "pending", 0, None)
    ]  # fmt: skip
    assert await store.get_journey("jrn_missing") is None


async def test_journey_envelope_is_sealed_at_rest(sealed: Store, raw: Raw) -> None:
    """The applicant's NIK is not readable in the journeys table."""
    await sealed.insert_journey(journey())
    stored = await raw.get("journeys", "envelope", "id", "jrn_1")
    assert stored is not None and "3201014708900001" not in stored


async def test_journey_key_replays_or_refuses(store: Store) -> None:
    """The same key names the first journey; the same key with another body is refused."""
    assert await store.insert_journey(journey("jrn_1"), idempotency=("k1", "fp")) is None
    assert await store.insert_journey(journey("jrn_2"), idempotency=("k1", "fp")) == "jrn_1"
    with pytest.raises(IdempotencyMismatch):
        await store.insert_journey(journey("jrn_3"), idempotency=("k1", "other"))
    assert await store.get_journey("jrn_2") is None


async def test_step_request_and_step_row_are_stored_together(store: Store, raw: Raw) -> None:
    """Storing a step's request moves its step to running under it, and chains both audit entries."""
    await store.insert_journey(journey())
    await start_step(store, "req_1")
    found = await store.get_journey("jrn_1")
    assert found is not None
    step = found.step("a")
    assert step is not None and (step.status, step.request_id, step.run) == ("running", "req_1", 1)
    actions = await raw.rows("SELECT action, request_id, outcome FROM audit_log ORDER BY seq")
    assert actions == [("journey.step", "req_1", "jrn_1")]


async def test_restoring_a_step_finds_the_request_through_its_key(store: Store) -> None:
    """Advancing again after a crash stores nothing new: the step's key names the request already stored."""
    await store.insert_journey(journey())
    await start_step(store, "req_1")
    link = StepLink("jrn_1", "a", 1)
    assert await store.insert(new("req_2"), idempotency=("journey jrn_1 a 1", "fp"), step=link) == "req_1"
    assert await store.get("req_2") is None


async def test_a_step_that_is_not_pending_stores_nothing(store: Store) -> None:
    """A step already running (another replica stored it under another key) or cancelled: no request is kept."""
    await store.insert_journey(journey())
    await start_step(store, "req_1")
    with pytest.raises(StepTaken):
        await store.insert(new("req_2"), idempotency=("other key", "fp"), step=StepLink("jrn_1", "a", 1))
    assert await store.get("req_2") is None
    with pytest.raises(StepTaken):  # a run ahead of the step's
        await store.insert(new("req_3"), step=StepLink("jrn_1", "b", 2))
    assert await store.get("req_3") is None


@pytest.mark.parametrize(
    ("status", "step_status"),
    [("completed", "completed"), ("rejected", "rejected"), ("failed", "failed"), ("waiting_agency", "completed")],
)
async def test_finishing_a_step_request_finishes_its_step(
    store: Store, status: str, step_status: str
) -> None:
    """The request's final status sets its step's status and touches the journey, in the finish transaction."""
    await store.insert_journey(journey())
    before = await store.get_journey("jrn_1")
    await start_step(store, "req_1")
    assert await store.finish("req_1", "w", status=RequestStatus(status), attempt=attempt(1))
    found = await store.get_journey("jrn_1")
    assert found is not None and before is not None
    step = found.step("a")
    assert step is not None and step.status == step_status and step.finished_at is not None
    assert found.updated_at > before.updated_at


async def test_a_lost_lease_changes_no_step(store: Store) -> None:
    """A finish by a worker that lost its lease records nothing, on the request or on its step."""
    await store.insert_journey(journey())
    await start_step(store, "req_1")
    assert not await store.finish("req_1", "someone-else", status=RequestStatus.COMPLETED, attempt=None)
    found = await store.get_journey("jrn_1")
    assert found is not None and found.steps[0].status == "running"


async def test_step_status_and_request_status_commit_together(store: Store, raw: Raw) -> None:
    """When the step row cannot be written, the request's final status is not written either."""
    await store.insert_journey(journey())
    await start_step(store, "req_1")
    if raw.backend.name == "sqlite":
        await raw.rows("CREATE TRIGGER refuse BEFORE UPDATE ON journey_steps BEGIN SELECT RAISE(ABORT, 'no'); END")
    else:
        await raw.rows(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no'; END $$"
        )
        await raw.rows("CREATE TRIGGER refuse BEFORE UPDATE ON journey_steps FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(Exception, match="no"):
        await store.finish("req_1", "w", status=RequestStatus.COMPLETED, attempt=attempt(1))
    row = await store.get("req_1")
    assert row is not None and row.status == "in_progress"


async def test_two_replicas_storing_one_step_store_one_request(backend: Backend) -> None:
    """Two stores (replicas) storing the same step at once under its key: one request, the step under it."""
    first, second = backend.make(), backend.make()
    await first.open()
    await second.open()
    try:
        await first.insert_journey(journey())
        link = StepLink("jrn_1", "a", 1)
        key = ("journey jrn_1 a 1", "fp")
        outcomes = await asyncio.gather(
            first.insert(new("req_1"), idempotency=key, step=link),
            second.insert(new("req_2"), idempotency=key, step=link),
            return_exceptions=True,
        )
        stored = [o for o in outcomes if o is None]
        assert len(stored) == 1, outcomes
        winner = "req_1" if outcomes[0] is None else "req_2"
        assert all(o in (None, winner) or isinstance(o, StepTaken) for o in outcomes), outcomes
        found = await first.get_journey("jrn_1")
        assert found is not None and found.steps[0].request_id == winner
        assert [await first.get(i) is not None for i in ("req_1", "req_2")].count(True) == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_skip_and_fail_change_only_pending_steps(store: Store) -> None:
    """Skipping and failing a step are conditional on it being pending (at the expected run)."""
    await store.insert_journey(journey(steps=("a", "b", "c")))
    await start_step(store, "req_1", "a")
    assert await store.skip_steps("jrn_1", {"a": "x", "b": "condition is false"}, at=NOW) == ["b"]
    problem = {"type": "/problems/validation-error", "title": "t", "status": 422}
    assert not await store.fail_step("jrn_1", "c", run=2, problem=problem, at=NOW)
    assert await store.fail_step("jrn_1", "c", run=1, problem=problem, at=NOW)
    found = await store.get_journey("jrn_1")
    assert found is not None
    assert [(s.name, s.status, s.skipped_because, s.problem) for s in found.steps] == [
        ("a", "running", None, None), ("b", "skipped", "condition is false", None), ("c", "failed", None, problem)
    ]  # fmt: skip


async def test_finishing_a_journey_is_conditional_and_queues_its_webhook(store: Store, raw: Raw) -> None:
    """The final status, within_visit, webhook and audit entry are written once; a second finish changes nothing."""
    await store.insert_journey(journey())
    hook = NewWebhook("evt_1", "counter-a", "https://hooks.example/j", {"type": "journey.status"})
    event = AuditEvent("journey.completed", NOW, "counter-a", "mpp-a", None, None, None, "jrn_1", None, "ok")
    at = dt.datetime.now(dt.UTC)
    done = await store.finish_journey(
        "jrn_1", status=JourneyStatus.COMPLETED, at=at, result={"ok": True}, webhook=hook, audit=event
    )
    assert done
    again = await store.finish_journey("jrn_1", status=JourneyStatus.FAILED, at=at, webhook=hook)
    assert not again
    found = await store.get_journey("jrn_1")
    assert found is not None
    assert (found.status, found.result, found.within_visit) == ("completed", {"ok": True}, True)
    assert found.finished_at == at
    webhooks = await store.due_webhooks(10)
    assert [(w.id, w.request_id) for w in webhooks] == [("evt_1", "jrn_1")]
    assert await raw.rows("SELECT action, request_id FROM audit_log") == [("journey.completed", "jrn_1")]


async def test_a_journey_past_its_budget_is_not_within_the_visit(store: Store) -> None:
    """within_visit compares the time from start to end with the visit budget."""
    await store.insert_journey(dataclasses.replace(journey(budget=5.0), created_at=NOW - dt.timedelta(seconds=6)))
    assert await store.finish_journey("jrn_1", status=JourneyStatus.FAILED, at=dt.datetime.now(dt.UTC))
    found = await store.get_journey("jrn_1")
    assert found is not None and found.within_visit is False


async def test_cancelling_cancels_pending_steps_only(store: Store) -> None:
    """A cancelled journey's pending steps are cancelled; a running step keeps its request and finishes."""
    await store.insert_journey(journey())
    await start_step(store, "req_1", "a")
    assert await store.finish_journey("jrn_1", status=JourneyStatus.CANCELLED, at=dt.datetime.now(dt.UTC))
    with pytest.raises(StepTaken):
        await start_step(store, "req_2", "b")
    assert await store.finish("req_1", "w", status=RequestStatus.COMPLETED, attempt=attempt(1))
    found = await store.get_journey("jrn_1")
    assert found is not None
    assert [(s.name, s.status) for s in found.steps] == [("a", "completed"), ("b", "cancelled")]


async def test_resume_needs_a_failed_journey_and_a_failed_step(store: Store) -> None:
    """Resume takes a failed journey back to running and the failed step back to pending, with its correction."""
    await store.insert_journey(journey())
    await start_step(store, "req_1", "a")
    at = dt.datetime.now(dt.UTC)
    assert not await store.resume_journey("jrn_1", "a", override=None, at=at)  # still running
    await store.finish("req_1", "w", status=RequestStatus.REJECTED, attempt=attempt(1))
    await store.finish_journey("jrn_1", status=JourneyStatus.FAILED, at=at, problem={"status": 422})
    assert not await store.resume_journey("jrn_1", "b", override=None, at=at)  # b never failed
    assert await store.resume_journey("jrn_1", "a", override={"nib": "9"}, at=at)
    assert not await store.resume_journey("jrn_1", "a", override=None, at=at)  # running again
    found = await store.get_journey("jrn_1")
    assert found is not None
    assert (found.status, found.problem, found.finished_at, found.within_visit) == ("running", None, None, None)
    step = found.step("a")
    assert step is not None and (step.status, step.run, step.override) == ("pending", 1, {"nib": "9"})
    await start_step(store, "req_2", "a", run=2)
    found = await store.get_journey("jrn_1")
    assert found is not None and found.steps[0].request_id == "req_2"


async def test_due_journeys_are_running_ones_with_something_to_decide(store: Store) -> None:
    """A journey waiting on a running step only is not due; one with a pending step, or nothing running, is."""
    for n in (1, 2, 3):
        await store.insert_journey(journey(f"jrn_{n}", steps=("a",)))
    await start_step(store, "req_1", "a", journey_id="jrn_1")  # waiting on its request
    await start_step(store, "req_2", "a", journey_id="jrn_2")
    await store.finish("req_2", "w", status=RequestStatus.COMPLETED, attempt=attempt(1))  # nothing running
    await store.finish_journey("jrn_3", status=JourneyStatus.CANCELLED, at=dt.datetime.now(dt.UTC))
    assert await store.due_journeys(10, idle_seconds=0) == ["jrn_2"]
    assert await store.due_journeys(10, idle_seconds=3600) == []


async def test_journeys_within_visit_counts_by_group(store: Store) -> None:
    """Finished journeys in a window, by journey and status: how many, and how many within their budget."""
    await store.insert_journey(journey("jrn_1"))
    await store.insert_journey(dataclasses.replace(journey("jrn_2", budget=1.0), created_at=NOW - dt.timedelta(1)))
    await store.insert_journey(journey("jrn_3"))
    end = dt.datetime.now(dt.UTC)
    await store.finish_journey("jrn_1", status=JourneyStatus.COMPLETED, at=end)
    await store.finish_journey("jrn_2", status=JourneyStatus.COMPLETED, at=end)
    figures = await store.journeys_within_visit(NOW - dt.timedelta(1), end + dt.timedelta(seconds=1))
    assert [(f.group, f.finished, f.within_visit) for f in figures] == [(("test.flow",), 2, 1)]
    with pytest.raises(ValueError, match="group by"):
        await store.journeys_within_visit(NOW, end, group_by=("envelope",))


async def test_retention_purges_a_finished_journeys_personal_data(store: Store, raw: Raw) -> None:
    """A journey ended before the cutoff loses its envelope, result, corrections and webhook body; its status and
    steps stay; a running journey and one ended after the cutoff keep theirs."""
    await store.insert_journey(journey("jrn_1"))
    await store.insert_journey(journey("jrn_2"))
    await store.insert_journey(journey("jrn_3"))
    hook = NewWebhook("evt_1", "counter-a", "https://hooks.example/j", {"nik": "3201014708900001"})
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    await store.finish_journey("jrn_1", status=JourneyStatus.COMPLETED, at=ended, result={"name": "Siti"},
                               webhook=hook)  # fmt: skip
    await store.finish_journey("jrn_2", status=JourneyStatus.COMPLETED, at=dt.datetime.now(dt.UTC), result={"a": 1})
    await raw.rows("UPDATE webhooks SET delivered_at = 1")
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).timestamp()
    assert await store.purge_journeys(cutoff, limit=10) == 1
    assert await store.purge_journeys(cutoff, limit=10) == 0
    purged = await store.get_journey("jrn_1")
    assert purged is not None and (purged.status, purged.envelope, purged.result) == ("completed", {}, None)
    assert [s.name for s in purged.steps] == ["a", "b"]
    assert await raw.rows("SELECT body FROM webhooks") == [("",)]
    assert (await store.get_journey("jrn_2")).result == {"a": 1}  # type: ignore[union-attr]
    assert (await store.get_journey("jrn_3")).envelope["payload"] == {"nib": "1234"}  # type: ignore[union-attr]
