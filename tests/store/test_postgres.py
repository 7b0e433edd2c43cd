"""What only the PostgreSQL store does: schema checks at open, migrations, replicas sharing one queue."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import asyncpg
import pytest

from contracts import RequestStatus
from gateway import PostgresStore
from gateway.store import NewWebhook, SchemaOutdated, StoreError, migrations, safe_dsn
from gateway.store import postgres_status as schema_status
from gateway.store import postgres_upgrade as upgrade
from tests.postgres import PostgresServer
from tests.store.support import attempt, new

LATEST = max(version for version, _, _ in migrations("postgres"))


@pytest.fixture
def empty_database(postgres: PostgresServer) -> Iterator[str]:
    """The DSN of a database with no schema at all."""
    dsn = postgres.create_database(template=None)
    yield dsn
    postgres.drop_database(dsn)


async def test_open_refuses_a_schema_that_is_behind(empty_database: str) -> None:
    """A replica never migrates: on an unmigrated database it refuses to start and names the command to run."""
    store = PostgresStore(empty_database)
    with pytest.raises(SchemaOutdated) as caught:
        await store.open()
    message = str(caught.value)
    assert "version 0" in message and f"needs {LATEST}" in message and "mpp-gateway db upgrade" in message
    assert not await store.ping()
    assert await upgrade(empty_database) == [v for v, _, _ in migrations("postgres")]
    await store.open()
    assert await store.ping()
    await store.aclose()


async def test_concurrent_upgrades_apply_each_migration_once(empty_database: str) -> None:
    """Several init containers upgrading at once: one applies everything, the others find nothing to do."""
    results = await asyncio.gather(*(upgrade(empty_database) for _ in range(4)))
    applied = sorted(v for result in results for v in result)
    assert applied == [v for v, _, _ in migrations("postgres")]
    status = await schema_status(empty_database)
    assert status.pending == () and status.current == LATEST


async def test_partial_schema_reports_the_pending_versions(empty_database: str) -> None:
    """A database migrated to an older version reports exactly the versions still to apply."""
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        await conn.execute(migrations("postgres")[0][2])
        await conn.execute("INSERT INTO schema_migrations VALUES (1, now())")
    finally:
        await conn.close()
    status = await schema_status(empty_database)
    assert (status.applied, status.current) == ((1,), 1)
    assert status.pending == tuple(v for v, _, _ in migrations("postgres")[1:])
    assert await upgrade(empty_database) == list(status.pending)


async def test_a_failing_migration_rolls_back_and_says_which(empty_database: str) -> None:
    """A migration that cannot apply (a table in the way) leaves the schema where it was and names its version."""
    conn = await asyncpg.connect(empty_database)
    try:
        await conn.execute("CREATE TABLE attempts (id INTEGER)")
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="migration 1 failed: DuplicateTableError"):
        await upgrade(empty_database)
    status = await schema_status(empty_database)
    assert status.applied == () and status.pending == tuple(v for v, _, _ in migrations("postgres"))


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    """No server at the address: a StoreError that names the host, never the password."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://mpp:s3cret-pw@127.0.0.1:{port}/mpp"
    store = PostgresStore(dsn)
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert f"127.0.0.1:{port}" in str(caught.value) and "s3cret-pw" not in str(caught.value)
    assert "s3cret-pw" not in repr(store)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://mpp:pw@db:5432/mpp", "postgresql://mpp:***@db:5432/mpp"),
        ("postgresql://mpp@db/mpp", "postgresql://mpp@db/mpp"),
        ("postgresql://mpp:pw@db/mpp?sslmode=require", "postgresql://mpp:***@db/mpp?sslmode=require"),
    ],
)
def test_safe_dsn_hides_only_the_password(dsn: str, shown: str) -> None:
    """Messages and logs show where the database is, never its password."""
    assert safe_dsn(dsn) == shown


async def test_replicas_claim_each_request_exactly_once(pg_database: str) -> None:
    """Three stores (three replicas) claiming the same 60 requests at once: each request has exactly one owner."""
    replicas = [PostgresStore(pg_database, pool_size=4, handover_grace=0.0) for _ in range(3)]
    for replica in replicas:
        await replica.open()
    try:
        ids = [f"req_{i}" for i in range(60)]
        for request_id in ids:
            await replicas[0].insert(new(request_id))
        attempts = [(r, request_id) for request_id in ids for r in range(3)]
        won = await asyncio.gather(*(replicas[r].claim(rid, f"replica-{r}", 30) for r, rid in attempts))
        owners: dict[str, list[str]] = {}
        for claimed in won:
            if claimed is not None:
                owners.setdefault(claimed.id, []).append(claimed.lease_owner or "")
        assert sorted(owners) == sorted(ids)
        assert all(len(o) == 1 for o in owners.values())
        assert await replicas[1].due(100) == []
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_a_fresh_request_is_left_to_its_replica_for_the_handover_grace(pg_database: str) -> None:
    """Other replicas' sweeps see an accepted request only once the accepting replica had time to claim it."""
    store = PostgresStore(pg_database, handover_grace=0.4)
    await store.open()
    try:
        await store.insert(new("req_1"))
        assert await store.due(10) == []
        assert await store.claim("req_1", "accepting-replica", 0.1) is not None  # claiming needs no sweep
        await asyncio.sleep(0.15)
        assert await store.due(10) == ["req_1"]  # an expired lease is due at once
        await store.insert(new("req_2"))
        await asyncio.sleep(0.45)
        assert await store.due(10) == ["req_1", "req_2"]
    finally:
        await store.aclose()


async def test_each_due_webhook_goes_to_one_replica(pg_database: str) -> None:
    """Replicas sweeping webhooks at once get disjoint sets, so a receiver is not called twice for one event."""
    replicas = [PostgresStore(pg_database, handover_grace=0.0) for _ in range(3)]
    for replica in replicas:
        await replica.open()
    try:
        for i in range(30):
            await replicas[0].insert(new(f"req_{i}"))
            await replicas[0].claim(f"req_{i}", "a", 30)
            hook = NewWebhook(id=f"evt_{i}", client_id="counter-a", url="http://127.0.0.1:9/h", body={"i": i})
            await replicas[0].finish(f"req_{i}", "a", status=RequestStatus.COMPLETED, attempt=attempt(1), webhook=hook)
        batches = await asyncio.gather(*(replica.due_webhooks(12) for replica in replicas))
        handed = [w.id for batch in batches for w in batch]
        assert len(handed) == len(set(handed)) == 30
        assert await replicas[0].due_webhooks(50) == []  # reserved until they are tried
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_a_lease_lost_to_another_replica_cannot_be_finished(pg_database: str) -> None:
    """Replica A stalls past its lease, B takes over: A's late outcome is refused, B's is recorded."""
    a, b = PostgresStore(pg_database, handover_grace=0.0), PostgresStore(pg_database, handover_grace=0.0)
    await a.open()
    await b.open()
    try:
        await a.insert(new("req_1", kind="submission"))
        assert await a.claim("req_1", "replica-a", 0.2) is not None
        await asyncio.sleep(0.25)
        assert await b.due(10) == ["req_1"]
        taken = await b.claim("req_1", "replica-b", 30)
        assert taken is not None and taken.needs_reconcile
        assert not await a.renew("req_1", "replica-a", 30)
        assert not await a.finish("req_1", "replica-a", status=RequestStatus.COMPLETED, attempt=attempt(1))
        assert await b.finish(
            "req_1", "replica-b", status=RequestStatus.COMPLETED, attempt=attempt(1), result={"by": "b"}
        )
        row = await a.get("req_1")
        assert row is not None and (row.status, row.result) == ("completed", {"by": "b"})
    finally:
        await a.aclose()
        await b.aclose()
