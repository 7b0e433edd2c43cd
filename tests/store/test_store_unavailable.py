"""A database that cannot take writes: every store raises StoreUnavailable (nothing written) and reports not ready."""

from __future__ import annotations

import urllib.parse

import asyncpg
import pytest

from contracts import RequestStatus
from gateway import Store
from gateway.store import StoreUnavailable
from tests.store.support import Backend, attempt, new


async def read_only(backend: Backend, store: Store) -> None:
    """Make the database read-only under the open store: SQLite's write connection, PostgreSQL's database."""
    if backend.name == "sqlite":
        writer = store._writer  # type: ignore[attr-defined]
        writer._conn.execute("PRAGMA query_only = 1")
        return
    name = urllib.parse.urlparse(backend.location).path.lstrip("/")
    conn = await asyncpg.connect(backend.location)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    finally:
        await conn.close()


async def test_a_read_only_database_fails_writes_as_unavailable(backend: Backend) -> None:
    """Insert, finish and appends raise StoreUnavailable, write nothing, and ping reports the store not ready."""
    if backend.name == "postgres":  # new sessions start read-only: set it before the pool connects
        await read_only(backend, backend.make())
    store = backend.make()
    await store.open()
    try:
        assert backend.name == "postgres" or await store.ping()
        if backend.name == "sqlite":
            await store.insert(new("req_0"), lease=("a", 30))
            await read_only(backend, store)
        with pytest.raises(StoreUnavailable):
            await store.insert(new("req_1"))
        assert not await store.ping()
        if backend.name == "sqlite":
            with pytest.raises(StoreUnavailable):
                await store.finish("req_0", "a", status=RequestStatus.COMPLETED, attempt=attempt(1))
        assert await store.get("req_1") is None
    finally:
        await store.aclose()
