"""The SQLite store: durability, leases, batching."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from gateway import NewRequest, SqliteStore, StoredAttempt
from gateway._sqlite import migrations


def new(request_id: str, deadline: float = 60.0) -> NewRequest:
    return NewRequest(
        id=request_id,
        client_id="counter-a",
        service="fake.thing.lookup",
        agency="fake",
        kind="lookup",
        mpp_id="mpp-a",
        desk="loket-01",
        operator="op-7",
        nik_masked="3201**********01",
        envelope={"applicant": {"nik": "3201014708900001"}, "payload": {"value": "x"}},
        trace_id="0" * 31 + "1",
        traceparent=None,
        created_at=dt.datetime.now(dt.UTC),
        deadline_at=time.time() + deadline,
    )


def attempt(number: int, outcome: str = "completed") -> StoredAttempt:
    now = dt.datetime.now(dt.UTC)
    return StoredAttempt(number, now, now, outcome, None)


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "store.sqlite3", synchronous="NORMAL")
    await s.open()
    yield s  # type: ignore[misc]
    await s.aclose()


async def test_inserted_request_survives_reopen(tmp_path: Path) -> None:
    """A request is on disk once insert returns: a new store on the same file reads it back."""
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path)
    await first.open()
    await first.insert(new("req_1"))
    await first.aclose()
    second = SqliteStore(path)
    await second.open()
    row = await second.get("req_1")
    await second.aclose()
    assert row is not None and row.status == "accepted"
    assert row.envelope["payload"] == {"value": "x"}


async def test_claim_is_exclusive_until_the_lease_expires(store: SqliteStore) -> None:
    """Only one owner can claim a request; after the lease expires another owner can take it over."""
    await store.insert(new("req_1"))
    assert await store.claim("req_1", "a", 0.2) is not None
    assert await store.claim("req_1", "b", 0.2) is None
    assert await store.due(10) == []
    await asyncio.sleep(0.25)
    assert await store.due(10) == ["req_1"]
    taken = await store.claim("req_1", "b", 10)
    assert taken is not None and taken.lease_owner == "b"


async def test_finish_requires_the_lease(store: SqliteStore) -> None:
    """A worker that lost its lease cannot write the outcome; the owner can, once."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 10)
    assert not await store.finish("req_1", "b", status="completed", attempt=attempt(1))
    assert await store.finish("req_1", "a", status="completed", attempt=attempt(1), result={"ok": True})
    assert not await store.finish("req_1", "a", status="failed", attempt=attempt(2))
    row = await store.get("req_1")
    assert row is not None
    assert (row.status, row.result, row.attempt_count, len(row.attempts)) == ("completed", {"ok": True}, 1, 1)
    assert row.finished_at is not None and row.lease_owner is None


async def test_release_returns_request_to_the_queue(store: SqliteStore) -> None:
    """A released lease puts the request back to accepted, claimable at once."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 60)
    await store.release("req_1", "a")
    assert await store.due(10) == ["req_1"]
    assert await store.claim("req_1", "b", 60) is not None


async def test_renew_extends_only_the_owners_lease(store: SqliteStore) -> None:
    """Renewing keeps a running request from being taken over; a stranger cannot renew."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 0.2)
    assert await store.renew("req_1", "a", 30)
    assert not await store.renew("req_1", "b", 30)
    await asyncio.sleep(0.25)
    assert await store.due(10) == []


async def test_attempts_are_recorded_in_order(store: SqliteStore) -> None:
    """Intermediate attempts and the final one are kept in order with their outcomes."""
    await store.insert(new("req_1"))
    await store.claim("req_1", "a", 60)
    await store.record_attempt("req_1", attempt(1, "transient"))
    await store.finish("req_1", "a", status="completed", attempt=attempt(2))
    row = await store.get("req_1")
    assert row is not None
    assert [(a.number, a.outcome) for a in row.attempts] == [(1, "transient"), (2, "completed")]
    assert row.attempt_count == 2


async def test_concurrent_writes_are_batched_and_isolated(store: SqliteStore) -> None:
    """Hundreds of concurrent inserts all land; a failing one (duplicate id) fails alone."""
    results = await asyncio.gather(
        *(store.insert(new(f"req_{i}")) for i in range(300)), store.insert(new("req_5")), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.IntegrityError)
    assert len(await store.due(1000)) == 300


async def test_schema_is_versioned(tmp_path: Path) -> None:
    """Opening applies each migration once and records its version."""
    path = tmp_path / "s.sqlite3"
    for _ in range(2):
        s = SqliteStore(path)
        await s.open()
        await s.aclose()
    with sqlite3.connect(path) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [version for version, _ in migrations()]
    assert versions[0] == 1


async def test_ping_reports_a_closed_store(tmp_path: Path) -> None:
    """ping is true while open and false once closed."""
    s = SqliteStore(tmp_path / "s.sqlite3")
    await s.open()
    assert await s.ping()
    await s.aclose()
    assert not await s.ping()
