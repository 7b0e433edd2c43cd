"""The store under test, once per implementation: SQLite in the test's folder, PostgreSQL in a fresh database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway import PostgresStore, SqliteStore, Store
from tests.postgres import PostgresServer
from tests.store.support import OLD, Backend, Raw


@pytest.fixture
def pg_database(postgres: PostgresServer) -> Iterator[str]:
    """The DSN of a fresh database migrated to the latest schema, dropped afterwards."""
    dsn = postgres.create_database()
    yield dsn
    postgres.drop_database(dsn)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each store implementation in turn (PostgreSQL's server starts on first use)."""
    if request.param == "sqlite":
        path = str(tmp_path / "store.sqlite3")
        return Backend("sqlite", lambda: SqliteStore(path, synchronous="NORMAL"), sqlite3.IntegrityError, path)
    dsn: str = request.getfixturevalue("pg_database")
    # No handover grace: the contract says a request is due as soon as it is accepted; the grace has its own test.
    return Backend(
        "postgres", lambda: PostgresStore(dsn, pool_size=5, handover_grace=0.0), asyncpg.UniqueViolationError, dsn
    )


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    """An open store of the current implementation."""
    s = backend.make()
    await s.open()
    yield s
    await s.aclose()


@pytest.fixture
def raw(backend: Backend) -> Raw:
    """Raw access to the current implementation's database; its stores seal with :data:`OLD`."""
    return Raw(backend, OLD)


@pytest.fixture
async def sealed(raw: Raw) -> AsyncIterator[Store]:
    """An open store sealing with the key 'old'."""
    store = raw.store()
    await store.open()
    yield store
    await store.aclose()


@pytest.fixture(autouse=True)
def fresh_chain_start() -> None:
    """Test audit chains begin a minute before each test, not before the suite was collected: a long run must not
    age their unsigned tail past the verifier's grace."""
    from tests.store import test_audit_store

    test_audit_store.restart_chains()
