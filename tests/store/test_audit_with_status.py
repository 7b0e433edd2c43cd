"""A request's audit entries on every store: written in the transaction of the status they record, never apart."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg
import pytest

from contracts import RequestStatus
from gateway import Store
from gateway.audit import verify_store
from gateway.store import AuditEvent, IdempotencyMismatch
from tests.store.support import Backend, attempt, new
from tests.store.test_audit_store import KEYS, event


async def actions(store: Store) -> list[tuple[str | None, str]]:
    """Every entry of the audit log as ``(request_id, action)``, in chain order."""
    return [(e.event.request_id, e.event.action) for e in await store.audit_entries(0, 10_000)]


def accepted(request_id: str) -> AuditEvent:
    return event(1, request_id=request_id)


def final(request_id: str, status: str = "completed") -> AuditEvent:
    return event(2, request_id=request_id, action=f"request.{status}")


async def refuse_audit_inserts(backend: Backend) -> None:
    """Make every insert into the audit log fail, as a full disk or a broken table would."""
    if backend.name == "sqlite":

        def run() -> None:
            conn = sqlite3.connect(backend.location)
            try:
                with conn:
                    conn.execute(
                        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END"
                    )
            finally:
                conn.close()

        await asyncio.to_thread(run)
        return
    conn = await asyncpg.connect(backend.location)
    try:
        await conn.execute(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'no'; END $$; "
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
        )
    finally:
        await conn.close()


async def test_insert_writes_the_acceptance_entry_with_the_request(store: Store) -> None:
    """An insert given its request.accepted entry stores both; a replayed idempotency key stores neither again."""
    assert await store.insert(new("req_1", kind="submission"), idempotency=("k", "f"), audit=accepted("req_1")) is None
    assert await store.insert(new("req_2", kind="submission"), idempotency=("k", "f"), audit=accepted("req_2")) == (
        "req_1"
    )
    with pytest.raises(IdempotencyMismatch):
        await store.insert(new("req_3", kind="submission"), idempotency=("k", "other"), audit=accepted("req_3"))
    await store.insert(new("req_4"), lease=("a", 30), audit=accepted("req_4"))
    assert await actions(store) == [("req_1", "request.accepted"), ("req_4", "request.accepted")]
    assert await store.get("req_2") is None and await store.get("req_3") is None


async def test_a_request_that_cannot_be_stored_leaves_no_entry(store: Store, backend: Backend) -> None:
    """An insert that fails (here: the id exists) writes no acceptance entry either."""
    await store.insert(new("req_1"), audit=accepted("req_1"))
    with pytest.raises(backend.integrity_error):
        await store.insert(new("req_1"), audit=accepted("req_1"))
    assert await actions(store) == [("req_1", "request.accepted")]


async def test_finish_writes_the_final_entry_only_for_the_lease_holder(store: Store) -> None:
    """finish writes request.<status> with the status; a finish that lost the lease writes neither."""
    await store.insert(new("req_1"), lease=("a", 30), audit=accepted("req_1"))
    assert not await store.finish(
        "req_1", "b", status=RequestStatus.FAILED, attempt=attempt(1), audit=final("req_1", "failed")
    )
    assert await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), audit=final("req_1"))
    assert await actions(store) == [("req_1", "request.accepted"), ("req_1", "request.completed")]
    report = await verify_store(store, KEYS)
    assert (report.intact, report.entries) == (True, 2)


async def test_a_status_whose_entry_cannot_be_written_is_not_recorded(store: Store, backend: Backend) -> None:
    """When the audit entry fails, the insert or the final status fails with it: no request without its entry."""
    await store.insert(new("req_1"), lease=("a", 30), audit=accepted("req_1"))
    await refuse_audit_inserts(backend)
    with pytest.raises((sqlite3.Error, asyncpg.PostgresError)):
        await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), audit=final("req_1"))
    row = await store.get("req_1")
    assert row is not None and (row.status, row.lease_owner, row.attempts) == ("in_progress", "a", ())
    with pytest.raises((sqlite3.Error, asyncpg.PostgresError)):
        await store.insert(new("req_2"), audit=accepted("req_2"))
    assert await store.get("req_2") is None
    assert await actions(store) == [("req_1", "request.accepted")]


async def test_without_an_entry_insert_and_finish_write_none(store: Store) -> None:
    """No audit event given (the audit log is off): the request is stored and finished, the log stays empty."""
    await store.insert(new("req_1"), lease=("a", 30))
    assert await store.finish("req_1", "a", status=RequestStatus.COMPLETED, attempt=attempt(1))
    assert await actions(store) == []


async def test_entries_written_with_statuses_and_appends_from_two_stores_form_one_chain(backend: Backend) -> None:
    """Two store instances (two replicas) inserting, finishing and appending at once: one gapless, valid chain."""
    first, second = backend.make(), backend.make()
    await first.open()
    await second.open()
    try:

        async def one(i: int) -> None:
            store = first if i % 2 else second
            request_id = f"req_{i}"
            await store.insert(new(request_id), lease=(f"o{i}", 30), audit=accepted(request_id))
            await (second if i % 2 else first).append_audit([event(3, request_id=request_id, action="request.read")])
            await store.finish(request_id, f"o{i}", status=RequestStatus.COMPLETED, attempt=attempt(1),
                               audit=final(request_id))  # fmt: skip

        await asyncio.gather(*(one(i) for i in range(30)))
        report = await verify_store(first, KEYS, page_size=7)
        entries = await actions(first)
    finally:
        await first.aclose()
        await second.aclose()
    assert (report.intact, report.entries, report.last_seq) == (True, 90, 90)
    for i in range(30):
        mine = [action for request_id, action in entries if request_id == f"req_{i}"]
        assert mine[0] == "request.accepted" and mine[-1] == "request.completed", mine


async def test_one_failing_write_in_a_sqlite_batch_keeps_the_others_and_chained(store: Store, backend: Backend) -> None:
    """SQLite batches the writes of one loop turn: one that fails is undone with its entry, the rest stay chained."""
    if backend.name != "sqlite":
        pytest.skip("PostgreSQL writes each operation in its own transaction")
    await store.insert(new("req_0"), audit=accepted("req_0"))
    outcomes: list[Any] = await asyncio.gather(
        store.insert(new("req_1"), audit=accepted("req_1")),
        store.insert(new("req_0"), audit=accepted("req_0")),  # the id exists: this one fails
        store.insert(new("req_2"), audit=accepted("req_2")),
        return_exceptions=True,
    )
    assert outcomes[0] is None and isinstance(outcomes[1], sqlite3.IntegrityError) and outcomes[2] is None
    assert await actions(store) == [(f"req_{n}", "request.accepted") for n in range(3)]
    report = await verify_store(store, KEYS)
    assert (report.intact, report.last_seq) == (True, 3)
