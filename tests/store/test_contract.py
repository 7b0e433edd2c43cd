"""The store contract, run against every implementation: durability, leases, idempotency, webhooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from contracts import RequestStatus
from gateway import Store
from gateway.store import IdempotencyMismatch, InvalidTransition, NewWebhook
from tests.store.support import Backend, attempt, new


async def test_inserted_request_survives_reopen(backend: Backend) -> None:
    """A request is durable once insert returns: a new store on the same database reads it back."""
    first = backend.make()
    await first.open()
    await first.insert(new("req_1"))
    await first.aclose()
    second = backend.make()
    await second.open()
    row = await second.get("req_1")
    await second.aclose()
    assert row is not None and row.status == "accepted"
    assert row.envelope["payload"] == {"value": "x"}
    assert (row.attempt_count, row.needs_reconcile, row.not_before, row.lease_owner) == (0, False, None, None)


async def test_a_request_committed_without_waiting_for_the_disk_is_made_durable_unchanged(backend: Backend) -> None:
    """insert(durable=False) is committed and readable at once; make_durable leaves every field as it was, and the
    request is there after a reopen."""
    first = backend.make()
    await first.open()
    await first.insert(new("req_1"), lease=("me", 30.0), durable=False)
    before = await first.get("req_1")
    await first.make_durable("req_1")
    assert await first.get("req_1") == before
    await first.aclose()
    second = backend.make()
    await second.open()
    row = await second.get("req_1")
    await second.aclose()
    assert row == before and row is not None and (row.status, row.lease_owner) == ("in_progress", "me")


async def test_get_reads_back_every_field_as_written(store: Store) -> None:
    """Text with NUL escapes and non-ASCII, timestamps and numbers come back exactly as they went in."""
    created = dt.datetime(2026, 1, 6, 1, 2, 3, 456789, tzinfo=dt.UTC)
    envelope = {"applicant": {"nik": "3201014708900001"}, "payload": {"value": "Siti\u0000 Aminah ✓", "n": 1.5}}
    request = new("req_1", envelope=envelope, created_at=created)
    await store.insert(request)
    row = await store.get("req_1")
    assert row is not None
    assert row.envelope == envelope and list(row.envelope["payload"]) == ["value", "n"]
    assert (row.created_at, row.updated_at, row.deadline_at) == (created, created, request.deadline_at)
    assert (row.service, row.kind, row.mpp_id, row.nik_masked, row.trace_id) == (
        "fake.thing.lookup", "lookup", "mpp-a", "3201**********01", "0" * 31 + "1",
    )  # fmt: skip
    assert await store.get("req_missing") is None


async def test_claim_is_exclusive_until_the_lease_expires(store: Store) -> None:
    """Only one owner can claim a request; after the lease expires another owner can take it over."""
    await store.insert(new("req_1"))
    claimed = await store.claim("req_1", "a", 0.3)
    assert claimed is not None and (claimed.status, claimed.lease_owner) == ("in_progress", "a")
    assert await store.claim("req_1", "b", 0.3) is None
    assert await store.due(10) == []
    await asyncio.sleep(0.35)
    assert await store.due(10) == ["req_1"]
    taken = await store.claim("req_1", "b", 10)
    assert taken is not None and taken.lease_owner == "b"
    assert not taken.needs_reconcile  # a lookup is simply run again


async def test_taking_over_a_submission_marks_it_for_reconciliation(store: Store) -> None:
    """A submission whose owner died may have reached the agency: the new owner must ask before sending."""
    await store.insert(new("req_1", kind="submission"))
    first = await store.claim("req_1", "a", 0.2)
    assert first is not None and not first.needs_reconcile
    await asyncio.sleep(0.25)
    taken = await store.claim("req_1", "b", 10)
    assert taken is not None and taken.needs_reconcile
    row = await store.get("req_1")
    assert row is not None and row.needs_reconcile


async def test_concurrent_claims_have_one_winner(store: Store) -> None:
    """Many owners claiming one request at once: exactly one gets it."""
    await store.insert(new("req_1"))
    won = await asyncio.gather(*(store.claim("req_1", f"owner-{i}", 30) for i in range(20)))
    assert len([w for w in won if w is not None]) == 1


async def test_finish_requires_the_lease(store: Store) -> None:
    """A worker that lost its lease cannot write the outcome; the owner can, once."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 10)
    assert not await store.finish("req_1", "b", status=RequestStatus.COMPLETED, attempt=attempt(1))
    assert await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), result={"ok": True},
                              agency_reference="REF-1")  # fmt: skip
    assert not await store.finish("req_1", "a", status=RequestStatus.FAILED, attempt=attempt(2))
    row = await store.get("req_1")
    assert row is not None
    assert (row.status, row.result, row.agency_reference, row.attempt_count, len(row.attempts)) == (
        "completed", {"ok": True}, "REF-1", 1, 1,
    )  # fmt: skip
    assert row.finished_at is not None and row.lease_owner is None and row.lease_expires is None


async def test_finish_refuses_a_change_the_status_machine_does_not_allow(store: Store) -> None:
    """Finishing as a status ``in_progress`` cannot go to is refused before anything is written."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 10)
    with pytest.raises(InvalidTransition):
        await store.finish("req_1", "a", status=RequestStatus.IN_PROGRESS, attempt=attempt(1))
    row = await store.get("req_1")
    assert row is not None and (row.status, row.attempt_count, row.lease_owner) == ("in_progress", 0, "a")


async def test_waiting_agency_is_not_final(store: Store) -> None:
    """Finishing as waiting_agency records the status without a finish time."""
    await store.insert(new("req_1", kind="submission"))
    await store.claim("req_1", "a", 10)
    assert await store.finish(
        "req_1", "a", status=RequestStatus.WAITING_AGENCY, attempt=attempt(1), agency_reference="R-9"
    )
    row = await store.get("req_1")
    assert row is not None and (row.status, row.finished_at, row.agency_reference) == ("waiting_agency", None, "R-9")


async def test_finish_queues_its_webhook_in_the_same_transaction(store: Store) -> None:
    """The webhook is stored with the status it announces, and not at all when the lease was lost."""
    await store.insert(new("req_1"))
    await store.insert(new("req_2"))
    await store.claim("req_1", "a", 10)
    await store.claim("req_2", "a", 10)
    hook = NewWebhook(id="evt_1", client_id="counter-a", url="http://127.0.0.1:9/hook", body={"status": "completed"})
    lost = NewWebhook(id="evt_2", client_id="counter-a", url="http://127.0.0.1:9/hook", body={"status": "failed"})
    assert await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), webhook=hook)
    assert not await store.finish("req_2", "b", status=RequestStatus.FAILED, attempt=attempt(1), webhook=lost)
    due = await store.due_webhooks(10)
    assert [(w.id, w.request_id, w.client_id, w.url, w.attempts) for w in due] == [
        ("evt_1", "req_1", "counter-a", "http://127.0.0.1:9/hook", 0)
    ]
    assert due[0].body == '{"status":"completed"}'


@pytest.mark.parametrize(
    ("delivered", "next_in", "due_again"),
    [(True, -1.0, False), (False, 3600.0, False), (False, -1.0, True)],
    ids=["delivered", "retry-later", "retry-now"],
)
async def test_webhook_tries_are_recorded(store: Store, delivered: bool, next_in: float, due_again: bool) -> None:
    """A delivered webhook is never due again; a failed one is due from its next try on."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 10)
    hook = NewWebhook(id="evt_1", client_id="counter-a", url="http://127.0.0.1:9/hook", body={})
    await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), webhook=hook)
    [webhook] = await store.due_webhooks(10)
    await store.webhook_tried(webhook.id, delivered=delivered, next_at=time.time() + next_in,
                              error=None if delivered else "receiver answered 500")  # fmt: skip
    again = await store.due_webhooks(10)
    assert [(w.id, w.attempts) for w in again] == ([("evt_1", 1)] if due_again else [])


async def test_webhooks_handed_out_are_reserved_until_tried(store: Store) -> None:
    """A second sweep (another worker or replica) gets none of the webhooks the first one is sending."""
    for i in range(5):
        await store.insert(new(f"req_{i}"))
        await store.claim(f"req_{i}", "a", 10)
        hook = NewWebhook(id=f"evt_{i}", client_id="counter-a", url="http://127.0.0.1:9/hook", body={"i": i})
        await store.finish(f"req_{i}", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), webhook=hook)
    first = await store.due_webhooks(3)
    second = await store.due_webhooks(10)
    assert len(first) == 3 and len(second) == 2
    assert {w.id for w in first}.isdisjoint({w.id for w in second})
    assert await store.due_webhooks(10) == []


async def test_release_returns_request_to_the_queue(store: Store) -> None:
    """A released lease puts the request back to accepted, claimable at once; a stranger cannot release."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 60)
    await store.release("req_1", "b")
    assert await store.due(10) == []
    await store.release("req_1", "a")
    assert await store.due(10) == ["req_1"]
    assert await store.claim("req_1", "b", 60) is not None


async def test_release_defers_and_keeps_the_attempt(store: Store) -> None:
    """A deferred request is not due or claimable before not_before; its attempt and reconcile flag are kept."""
    await store.insert(new("req_1", kind="submission"))
    await store.claim("req_1", "a", 60)
    await store.release("req_1", "a", not_before=time.time() + 0.4, needs_reconcile=True,
                        attempt=attempt(1, "ambiguous", "timeout after sending"))  # fmt: skip
    row = await store.get("req_1")
    assert row is not None
    assert (row.status, row.needs_reconcile, row.attempt_count) == ("accepted", True, 1)
    assert [(a.number, a.outcome, a.detail) for a in row.attempts] == [(1, "ambiguous", "timeout after sending")]
    assert await store.due(10) == []
    assert await store.claim("req_1", "b", 60) is None
    await asyncio.sleep(0.45)
    assert await store.due(10) == ["req_1"]
    claimed = await store.claim("req_1", "b", 60)
    assert claimed is not None and claimed.needs_reconcile
    await store.release("req_1", "b", needs_reconcile=False)
    row = await store.get("req_1")
    assert row is not None and not row.needs_reconcile and row.not_before is None


async def test_renew_extends_only_the_owners_lease(store: Store) -> None:
    """Renewing keeps a running request from being taken over; a stranger cannot renew."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 0.2)
    assert await store.renew("req_1", "a", 30)
    assert not await store.renew("req_1", "b", 30)
    await asyncio.sleep(0.25)
    assert await store.due(10) == []


async def test_attempts_are_recorded_in_order(store: Store) -> None:
    """Intermediate attempts and the final one are kept in order with their outcomes."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 60)
    await store.record_attempt("req_1", attempt(1, "transient"))
    await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(2))
    row = await store.get("req_1")
    assert row is not None
    assert [(a.number, a.outcome) for a in row.attempts] == [(1, "transient"), (2, "completed")]
    assert row.attempt_count == 2
    bare = await store.get("req_1", with_attempts=False)
    assert bare is not None and bare.attempts == () and bare.attempt_count == 2


async def test_due_lists_oldest_first_up_to_the_limit(store: Store) -> None:
    """The queue is served oldest first; finished requests are not in it."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in (3, 1, 2, 0):
        await store.insert(new(f"req_{i}", created_at=base + dt.timedelta(seconds=i)))
    await store.claim("req_0", "a", 60)
    await store.finish("req_0", "a", status=RequestStatus.COMPLETED, attempt=attempt(1))
    assert await store.due(2) == ["req_1", "req_2"]
    assert await store.due(10) == ["req_1", "req_2", "req_3"]


async def test_concurrent_writes_all_land_and_a_failing_one_fails_alone(store: Store, backend: Backend) -> None:
    """Hundreds of concurrent inserts all land; a failing one (duplicate id) fails alone with the driver's error."""
    results = await asyncio.gather(
        *(store.insert(new(f"req_{i}")) for i in range(300)), store.insert(new("req_5")), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], backend.integrity_error)
    assert len(await store.due(1000)) == 300


async def test_idempotency_key_finds_the_first_request(store: Store) -> None:
    """Same key and body: the first request's id; another body: a mismatch naming it; another client: its own."""
    assert await store.insert(new("req_1"), idempotency=("key-1", "fp-a")) is None
    assert await store.insert(new("req_2"), idempotency=("key-1", "fp-a")) == "req_1"
    with pytest.raises(IdempotencyMismatch) as caught:
        await store.insert(new("req_3"), idempotency=("key-1", "fp-b"))
    assert caught.value.request_id == "req_1"
    assert await store.insert(new("req_4", client_id="counter-b"), idempotency=("key-1", "fp-b")) is None
    assert await store.get("req_2") is None and await store.get("req_3") is None
    assert await store.get("req_4") is not None


async def test_concurrent_inserts_with_one_key_store_one_request(store: Store) -> None:
    """A counter's retries racing each other (or hitting several replicas) store the request once."""
    results = await asyncio.gather(*(store.insert(new(f"req_{i}"), idempotency=("k", "fp")) for i in range(12)))
    stored = [f"req_{i}" for i, r in enumerate(results) if r is None]
    assert len(stored) == 1
    assert set(results) == {None, stored[0]}
    assert await store.due(100) == stored


async def test_purged_idempotency_keys_can_be_used_again(store: Store) -> None:
    """Keys older than the window are forgotten (and counted); newer ones still answer."""
    await store.insert(new("req_1"), idempotency=("old", "fp"))
    cutoff = time.time() + 0.01
    await asyncio.sleep(0.02)
    await store.insert(new("req_2"), idempotency=("new", "fp"))
    assert await store.purge_idempotency_keys(cutoff) == 1
    assert await store.insert(new("req_3"), idempotency=("old", "fp")) is None
    assert await store.insert(new("req_4"), idempotency=("new", "fp")) == "req_2"


async def test_queue_stats_count_waiting_work(store: Store) -> None:
    """Accepted and in-progress requests are counted, with the acceptance time of the oldest."""
    assert await store.queue_stats() == (0, None)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(3):
        await store.insert(new(f"req_{i}", created_at=base + dt.timedelta(seconds=i)))
    await store.claim("req_0", "a", 60)
    await store.claim("req_1", "a", 60)
    await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1))
    depth, oldest = await store.queue_stats()
    assert depth == 2 and oldest == pytest.approx(base.timestamp())


async def test_ping_reports_a_closed_store(backend: Backend) -> None:
    """ping is true while open and false once closed."""
    s = backend.make()
    assert not await s.ping()
    await s.open()
    assert await s.ping()
    await s.aclose()
    assert not await s.ping()


async def test_insert_under_a_lease_stores_the_request_claimed(store: Store) -> None:
    """A request inserted with a lease is in progress for its owner: nobody else can claim it until it expires."""
    await store.insert(new("req_1"), lease=("a", 0.3))
    row = await store.get("req_1")
    assert row is not None and (row.status, row.lease_owner) == ("in_progress", "a")
    assert row.lease_expires is not None and row.lease_expires > time.time()
    assert await store.claim("req_1", "b", 10) is None
    assert await store.due(10) == []
    await asyncio.sleep(0.35)
    assert await store.due(10) == ["req_1"]


async def test_finish_records_the_given_time(store: Store) -> None:
    """``finish(at=...)`` stores exactly that time as updated and finished, so the caller may answer from memory."""
    await store.insert(new("req_1"), lease=("a", 30))
    at = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    assert await store.finish(
        "req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), result={"ok": True}, at=at
    )
    row = await store.get("req_1")
    assert row is not None and (row.status, row.updated_at, row.finished_at) == ("completed", at, at)
