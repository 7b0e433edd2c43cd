"""The stores' schemas: which versioned migrations a database has, and applying the rest (``mpp-gateway db``).

PostgreSQL is migrated only here, once per deployment (a Job or an init container), never by a serving replica;
:class:`gateway.PostgresStore` only checks the version. SQLite, the embedded default, also migrates itself when the
gateway opens it; ``db status`` and ``db upgrade`` work on it too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import urllib.parse
from pathlib import Path
from typing import TypeAlias

import asyncpg

from ..config import Settings
from ._migrations import migrations
from ._port import SchemaStatus, StoreError
from ._sqlite_writer import connect as _connect
from ._sqlite_writer import migrate as _migrate

__all__ = [
    "DRIVER_ERRORS",
    "PgConnection",
    "describe",
    "postgres_schema",
    "postgres_status",
    "postgres_upgrade",
    "safe_dsn",
    "schema_status",
    "upgrade",
]

#: What asyncpg raises when the server is unreachable or refuses: translated to :class:`StoreError` at the edge.
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
PgConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
#: Key of the advisory lock that serialises concurrent ``db upgrade`` runs (several init containers at once).
_MIGRATION_LOCK = 7_303_110_001


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def postgres_schema(c: PgConnection) -> SchemaStatus:
    """The migrations the database on connection ``c`` has (none when it has no ``schema_migrations`` table)."""
    available = tuple(version for version, _, _ in migrations("postgres"))
    if await c.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return SchemaStatus(applied=(), available=available)
    rows = await c.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return SchemaStatus(applied=tuple(row["version"] for row in rows), available=available)


async def _pg_connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn)
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot reach PostgreSQL at {safe_dsn(dsn)}: {type(exc).__name__}") from exc


async def postgres_status(dsn: str) -> SchemaStatus:
    """The migrations the database at ``dsn`` has, against those this gateway ships."""
    c = await _pg_connect(dsn)
    try:
        return await postgres_schema(c)
    finally:
        await c.close()


async def postgres_upgrade(dsn: str) -> list[int]:
    """Apply the pending migrations, each in its own transaction; returns the versions applied.

    Safe to run from several places at once (one init container per replica): an advisory lock lets one
    apply them while the others wait and then find nothing to do.
    """
    c = await _pg_connect(dsn)
    try:
        await c.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await c.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
        )
        applied = set((await postgres_schema(c)).applied)
        done = []
        for version, _, sql in migrations("postgres"):
            if version in applied:
                continue
            try:
                async with c.transaction():
                    await c.execute(sql)
                    await c.execute(
                        "INSERT INTO schema_migrations VALUES ($1, $2)", version, dt.datetime.now(dt.UTC)
                    )
            except DRIVER_ERRORS as exc:
                # The transaction rolled back: the schema stays at the last version that applied whole.
                raise StoreError(f"migration {version} failed: {type(exc).__name__}: {exc}") from exc
            done.append(version)
        return done
    finally:
        await c.close()  # closing the session releases the advisory lock


def describe(settings: Settings) -> str:
    """Which store the settings select, without secrets."""
    if settings.store_dsn:
        return "PostgreSQL " + safe_dsn(settings.store_dsn)
    return f"SQLite {settings.store_path}"


def _sqlite_status(path: str) -> SchemaStatus:
    available = tuple(version for version, _, _ in migrations("sqlite"))
    if not Path(path).exists():
        return SchemaStatus(applied=(), available=available)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").fetchone() is None:
            return SchemaStatus(applied=(), available=available)
        applied = tuple(row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version"))
    finally:
        conn.close()
    return SchemaStatus(applied=applied, available=available)


def _sqlite_upgrade(path: str) -> list[int]:
    before = set(_sqlite_status(path).applied)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path)
    try:
        _migrate(conn)
    finally:
        conn.close()
    return [version for version in _sqlite_status(path).applied if version not in before]


async def schema_status(settings: Settings) -> SchemaStatus:
    """The migrations the configured store has, against those this gateway ships."""
    if settings.store_dsn:
        return await postgres_status(settings.store_dsn)
    return await asyncio.to_thread(_sqlite_status, settings.store_path)


async def upgrade(settings: Settings) -> list[int]:
    """Apply the configured store's pending migrations; returns the versions applied."""
    if settings.store_dsn:
        return await postgres_upgrade(settings.store_dsn)
    return await asyncio.to_thread(_sqlite_upgrade, settings.store_path)
