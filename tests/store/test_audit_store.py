"""The audit chain on every store: linear under concurrency, read back as hashed, and every tampering located."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway import PostgresStore, Store
from gateway.audit import Auditor, key_id, verify_store
from gateway.store import GENESIS, AuditCheckpoint, AuditEvent, entry_hash, purge_expired
from tests.store.support import Backend, new

SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEYS = {key_id(SIGNER.public_key()): SIGNER.public_key()}
COLUMNS = ("at", "client_id", "mpp_id", "desk", "operator", "action", "service", "request_id", "subject", "outcome",
           "prev_hash", "hash")  # fmt: skip


#: When the test chains begin: a minute before the test starts (reset for each test by ``fresh_chain_start`` in
#: conftest.py), so that their unsigned tail is within the verifier's grace however long the suite has run.
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)


def restart_chains() -> None:
    """Begin the test chains a minute before now."""
    global T0
    T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)


def event(n: int, **fields: Any) -> AuditEvent:
    """The n-th event of a test chain."""
    values: dict[str, Any] = {
        "action": "request.accepted",
        "at": T0 + dt.timedelta(seconds=n % 60, microseconds=1000 * n % 1_000_000),
        "client_id": "counter-a",
        "mpp_id": "mpp-a",
        "desk": "loket-01",
        "operator": "op-7",
        "service": "fake.thing.lookup",
        "request_id": f"req_{n}",
        "subject": f"{n:064x}",
        "outcome": "ok",
    }
    return AuditEvent(**{**values, **fields})


async def execute(backend: Backend, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """Run SQL straight on the database, as someone with write access to it would (``?`` placeholders)."""
    if backend.name == "sqlite":

        def run() -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(backend.location)
            try:
                with conn:
                    return conn.execute(statement, args).fetchall()
            finally:
                conn.close()

        return await asyncio.to_thread(run)
    numbered = iter(range(1, 100))
    conn = await asyncpg.connect(backend.location)
    try:
        await conn.execute("SET session_replication_role = replica")  # a superuser switching the triggers off
        rows = await conn.fetch(re.sub(r"\?", lambda _: f"${next(numbered)}", statement), *args)
    finally:
        await conn.close()
    return [tuple(row) for row in rows]


async def chain_of(store: Store, count: int, *, checkpoint_at: int | None = None) -> None:
    """``count`` entries appended a few at a time, and a signed checkpoint once entry ``checkpoint_at`` is in."""
    cut = checkpoint_at or count
    for low, high in ((1, cut), (cut + 1, count)):
        for start in range(low, high + 1, 3):
            await store.append_audit([event(n) for n in range(start, min(start + 3, high + 1))])
        if high == checkpoint_at:
            assert await Auditor(store, signing_key=SIGNER).checkpoint() is not None


async def test_appends_form_a_gapless_chain_that_verifies(store: Store) -> None:
    """Entries get seq 1, 2, 3... each linked to the one before, the first to 64 zeros; the walk finds it intact."""
    first = await store.append_audit([event(1), event(2)])
    assert [e.seq for e in first] == [1, 2] and first[0].prev_hash == GENESIS
    await store.append_audit([event(3)])
    entries = await store.audit_entries(0, 100)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert await store.audit_head() == entries[-1]
    report = await verify_store(store, KEYS, page_size=2)
    assert (report.intact, report.entries, report.last_seq, report.head_hash) == (True, 3, 3, entries[-1].hash)
    assert "no signed checkpoints" in report.warnings[0]


async def test_an_entry_reads_back_exactly_as_it_was_hashed(store: Store) -> None:
    """Microseconds, non-ASCII text and absent fields come back unchanged, so the stored hash recomputes."""
    odd = event(1, at=dt.datetime(2026, 3, 1, 8, 0, 0, tzinfo=dt.UTC), operator="Ni Luh Ayu ✓", desk=None,
                request_id=None, subject=None)  # fmt: skip
    await store.append_audit(
        [odd, event(2, at=dt.datetime(2026, 3, 1, 15, 0, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=7))))]
    )
    back = await store.audit_entries(0, 10)
    assert back[0].event == odd
    assert back[1].event.at == dt.datetime(2026, 3, 1, 8, 0, 0, 7, tzinfo=dt.UTC)
    assert all(entry_hash(e.seq, e.event, e.prev_hash) == e.hash for e in back)


async def test_entries_and_checkpoints_page_by_sequence(store: Store) -> None:
    """audit_entries and audit_checkpoints return what follows after_seq, in order, at most limit."""
    await chain_of(store, 7, checkpoint_at=4)
    assert [e.seq for e in await store.audit_entries(2, 3)] == [3, 4, 5]
    assert await store.audit_entries(7, 3) == []
    checkpoints = await store.audit_checkpoints(0, 10)
    assert [c.seq for c in checkpoints] == [4] and await store.audit_checkpoints(4, 10) == []
    duplicate = AuditCheckpoint(4, "f" * 64, dt.datetime.now(dt.UTC), "other", "c2ln")
    assert await store.add_audit_checkpoint(duplicate) is False  # another replica signed the same head first
    assert (await store.audit_checkpoints(0, 10))[0].hash == checkpoints[0].hash


async def test_concurrent_appends_from_two_stores_form_one_linear_chain(backend: Backend) -> None:
    """Two store instances (two replicas, or two writers on one SQLite file) appending at once: one gapless chain."""
    first, second = backend.make(), backend.make()
    await first.open()
    await second.open()
    try:
        calls = [
            (first if i % 2 else second).append_audit([event(100 * i + k) for k in range(1 + i % 3)]) for i in range(40)
        ]
        await asyncio.gather(*calls)
        report = await verify_store(first, KEYS, page_size=7)
    finally:
        await first.aclose()
        await second.aclose()
    total = sum(1 + i % 3 for i in range(40))
    assert (report.intact, report.entries, report.last_seq) == (True, total, total)


async def test_the_retention_purge_leaves_the_audit_log_whole(store: Store) -> None:
    """Purging personal data from old requests does not touch the audit log: it holds none in clear."""
    await store.insert(new("req_1"))
    await chain_of(store, 5, checkpoint_at=5)
    await purge_expired(store, retention_seconds=1, clock=lambda: 4e9)
    report = await verify_store(store, KEYS)
    assert (report.intact, report.entries, report.checkpoints_verified) == (True, 5, 1)


async def _edit(backend: Backend, store: Store) -> None:
    await execute(backend, "UPDATE audit_log SET outcome = 'forbidden' WHERE seq = 3")


async def _delete(backend: Backend, store: Store) -> None:
    await execute(backend, "DELETE FROM audit_log WHERE seq = 3")


async def _swap(backend: Backend, store: Store) -> None:
    listed = ", ".join(COLUMNS)
    rows = {r[0]: r[1:] for r in await execute(backend, f"SELECT seq, {listed} FROM audit_log WHERE seq IN (4, 5)")}  # noqa: S608 - test SQL
    assignments = ", ".join(f"{c} = ?" for c in COLUMNS)
    for seq, other in ((4, 5), (5, 4)):
        await execute(backend, f"UPDATE audit_log SET {assignments} WHERE seq = ?", *rows[other], seq)  # noqa: S608 - test SQL


async def _truncate(backend: Backend, store: Store) -> None:
    await execute(backend, "DELETE FROM audit_log WHERE seq > 4")


async def _regrow(backend: Backend, store: Store) -> None:
    await _truncate(backend, store)
    await store.append_audit([event(n, outcome="rewritten") for n in range(5, 9)])


async def _rehash(backend: Backend, store: Store) -> None:
    """Edit entry 3 and recompute every hash after it: consistent, but not what the checkpoint signed."""
    entries = await store.audit_entries(0, 100)
    previous = entries[1].hash
    for entry in entries[2:]:
        changed = event(entry.seq, outcome="forbidden") if entry.seq == 3 else entry.event
        digest = entry_hash(entry.seq, changed, previous)
        await execute(backend, "UPDATE audit_log SET outcome = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                      changed.outcome, previous, digest, entry.seq)  # fmt: skip
        previous = digest


async def _forge_checkpoint(backend: Backend, store: Store) -> None:
    head = await store.audit_head()
    assert head is not None
    at: Any = dt.datetime.now(dt.UTC) if backend.name == "postgres" else "2026-03-01T09:00:00+00:00"
    forged = "c2lnbmF0dXJl" * 7 + "c2lnbmF0dXJlcw=="  # valid base64, not a signature
    await execute(
        backend,
        "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
        head.seq, head.hash, at, key_id(SIGNER.public_key()), forged,
    )  # fmt: skip


async def _foreign_key(backend: Backend, store: Store) -> None:
    await _rehash(backend, store)
    await execute(backend, "DELETE FROM audit_checkpoints")
    await Auditor(store, signing_key=Ed25519PrivateKey.generate()).checkpoint()


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        (_edit, 3, "edited"),
        (_delete, 3, "deleted"),
        (_swap, 4, "reordered"),
        (_truncate, 5, "truncated"),
        (_regrow, 6, "truncated"),
        (_rehash, 6, "truncated"),
        (_forge_checkpoint, 8, "bad-signature"),
        (_foreign_key, 8, "bad-signature"),
    ],
    ids=[
        "edit-a-field",
        "delete-an-entry",
        "swap-two-entries",
        "cut-the-tail",
        "cut-and-regrow",
        "edit-and-rehash",
        "forge-a-checkpoint",
        "sign-with-another-key",
    ],
)
async def test_tampering_is_detected_and_located(
    backend: Backend, store: Store, tamper: Callable[[Backend, Store], Awaitable[None]], seq: int, kind: str
) -> None:
    """Each way of tampering with the stored log is reported at the first entry concerned, with its kind."""
    await chain_of(store, 8, checkpoint_at=6)
    before = await verify_store(store, KEYS, page_size=3)
    assert (before.intact, before.checkpoints_verified, before.newest_checkpoint) == (True, 1, 6)
    await tamper(backend, store)
    report = await verify_store(store, KEYS, page_size=3)
    assert report.finding is not None
    assert (report.finding.seq, report.finding.kind) == (seq, kind), report.finding.detail


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM audit_checkpoints",
    ],
)
async def test_postgres_refuses_to_change_the_audit_log(pg_database: str, statement: str) -> None:
    """On PostgreSQL a trigger refuses updates, deletes and truncation of the log (the gateway's role can only add)."""
    store = PostgresStore(pg_database, pool_size=2)
    await store.open()
    try:
        await chain_of(store, 3, checkpoint_at=3)
        conn = await asyncpg.connect(pg_database)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        finally:
            await conn.close()
        assert (await verify_store(store, KEYS)).entries == 3
    finally:
        await store.aclose()
