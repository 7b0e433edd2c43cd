"""Builders shared by the store suites: a new request and an attempt; raw access to the database under a store."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from contracts import AttemptOutcome, ServiceKind
from gateway import NewRequest, PostgresStore, SqliteStore, Store, StoredAttempt
from gateway.store import KeyRing, generate_data_key

#: Columns that are TEXT in PostgreSQL too (the rest :meth:`Raw.set` writes are JSON).
_TEXT_COLUMNS = frozenset({("webhooks", "body"), ("requests", "agency_reference"), ("agency_documents", "sealed_as")})
#: The key ring the ``sealed`` store seals with (its key id is "old": the sealing tests rotate to a "new" one).
OLD = generate_data_key("old")


class Default:
    """The type of :data:`DEFAULT`: "the usual value", where ``None`` means something."""


DEFAULT = Default()


@dataclasses.dataclass(frozen=True)
class Backend:
    """One store implementation under test: how to make a store on the test's database, and its driver's errors."""

    name: str
    make: Callable[[], Store]
    #: What inserting a duplicate request id raises (the driver's own error: the stores do not translate it).
    integrity_error: type[Exception]
    #: The SQLite file or the PostgreSQL DSN.
    location: str


def new(
    request_id: str,
    *,
    deadline: float = 60.0,
    kind: str = "lookup",
    client_id: str = "counter-a",
    envelope: dict[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> NewRequest:
    """A request as the API would persist it."""
    return NewRequest(
        id=request_id,
        client_id=client_id,
        service="fake.thing.submit" if kind == "submission" else "fake.thing.lookup",
        agency="fake",
        kind=ServiceKind(kind),
        mpp_id="mpp-a",
        desk="loket-01",
        operator="op-7",
        nik_masked="3201**********01",
        envelope=envelope or {"applicant": {"nik": "3201014708900001"}, "payload": {"value": "x"}},
        trace_id="0" * 31 + "1",
        traceparent=None,
        created_at=created_at or dt.datetime.now(dt.UTC),
        deadline_at=time.time() + deadline,
    )


def attempt(number: int, outcome: str = "completed", detail: str | None = None) -> StoredAttempt:
    """One finished attempt, now."""
    now = dt.datetime.now(dt.UTC)
    return StoredAttempt(number, now, now, AttemptOutcome(outcome), detail)


class Raw:
    """The database under the store, read and written around it."""

    def __init__(self, backend: Backend, keys: str | None = None) -> None:
        """``keys``: the key ring :meth:`store` seals with unless told another."""
        self.backend = backend
        self.keys = keys

    def store(self, keys: str | Default | None = DEFAULT) -> Store:
        """A store on the database, sealing with ``keys`` (``None``: a store without a key ring)."""
        keys = self.keys if isinstance(keys, Default) else keys
        ring = KeyRing.parse(keys) if keys else None
        if self.backend.name == "sqlite":
            return SqliteStore(self.backend.location, synchronous="NORMAL", keys=ring)
        return PostgresStore(self.backend.location, pool_size=3, handover_grace=0.0, keys=ring)

    async def _pg(self, work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        conn = await asyncpg.connect(self.backend.location)
        try:
            return await work(conn)
        finally:
            await conn.close()

    def _sqlite(self, sql: str, params: tuple[Any, ...]) -> Any:
        conn = sqlite3.connect(self.backend.location, isolation_level=None)
        try:
            return conn.execute(sql, params).fetchone()
        finally:
            conn.close()

    async def get(self, table: str, column: str, key: str, value: str) -> str | None:
        if self.backend.name == "sqlite":
            sql = f"SELECT {column} FROM {table} WHERE {key} = ?"  # noqa: S608 - test constants
            row = await asyncio.to_thread(self._sqlite, sql, (value,))
            return None if row is None else row[0]
        sql = f"SELECT {column}::text FROM {table} WHERE {key} = $1"  # noqa: S608 - test constants
        found: str | None = await self._pg(lambda c: c.fetchval(sql, value))
        return found

    async def set(self, table: str, column: str, key: str, value: str, stored: str) -> None:
        if self.backend.name == "sqlite":
            sql = f"UPDATE {table} SET {column} = ? WHERE {key} = ?"  # noqa: S608 - test constants
            await asyncio.to_thread(self._sqlite, sql, (stored, value))
            return
        cast = "" if (table, column) in _TEXT_COLUMNS else "::json"
        sql = f"UPDATE {table} SET {column} = $1{cast} WHERE {key} = $2"  # noqa: S608 - test constants
        await self._pg(lambda c: c.execute(sql, stored, value))

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Every row ``sql`` selects (``?`` placeholders, made ``$n`` for PostgreSQL), JSON columns as text."""
        if self.backend.name == "sqlite":

            def fetch() -> list[tuple[Any, ...]]:
                conn = sqlite3.connect(self.backend.location, isolation_level=None)
                try:
                    return [tuple(row) for row in conn.execute(sql, params).fetchall()]
                finally:
                    conn.close()

            return await asyncio.to_thread(fetch)
        numbered = sql
        for n in range(1, len(params) + 1):
            numbered = numbered.replace("?", f"${n}", 1)
        found: list[tuple[Any, ...]] = [tuple(r) for r in await self._pg(lambda c: c.fetch(numbered, *params))]
        return found

    async def everything(self) -> bytes:
        """SQLite: the database and WAL files byte for byte; PostgreSQL: every row of every table as text."""
        if self.backend.name == "sqlite":
            files = [Path(self.backend.location), Path(self.backend.location + "-wal")]
            return b"".join([await asyncio.to_thread(p.read_bytes) for p in files if p.exists()])

        async def dump(c: asyncpg.Connection) -> bytes:
            tables = await c.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            rows = []
            for t in tables:
                rows += await c.fetch(f'SELECT t::text FROM "{t[0]}" t')  # noqa: S608 - catalog names
            return "\n".join(r[0] for r in rows).encode()

        result: bytes = await self._pg(dump)
        return result
