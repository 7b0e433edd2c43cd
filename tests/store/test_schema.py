"""The two schemas agree, and ``mpp-gateway db status|upgrade`` and ``serve`` handle them as documented."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway import SqliteStore
from gateway.cli import main
from gateway.store import generate_data_key, migrations
from tests.postgres import PostgresServer

#: SQLite's declared type -> the PostgreSQL types that hold the same values (JSON and ISO timestamps are TEXT).
COMPATIBLE = {
    "TEXT": {"text", "json", "timestamp with time zone"},
    "REAL": {"double precision"},
    "INTEGER": {"integer", "bigint", "boolean"},
}
Column = tuple[str, str, bool, bool]  # name, type, not null, part of the primary key


def sqlite_schema(path: Path) -> dict[str, list[Column]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        schema = {}
        for table in tables:
            rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
            # SQLite lets a non-INTEGER primary key hold NULL (a legacy quirk); the store never writes one.
            schema[table] = [
                (name, kind.upper(), bool(notnull or pk), bool(pk)) for _, name, kind, notnull, _, pk in rows
            ]
    conn.close()
    return schema


async def postgres_schema(dsn: str) -> dict[str, list[Column]]:
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
        keys = {
            (r["table_name"], r["column_name"])
            for r in await conn.fetch(
                "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name) "
                "WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = 'public'"
            )
        }
    finally:
        await conn.close()
    schema: dict[str, list[Column]] = {}
    for r in columns:
        key = (r["table_name"], r["column_name"])
        schema.setdefault(r["table_name"], []).append(
            (r["column_name"], r["data_type"], r["is_nullable"] == "NO", key in keys)
        )
    return schema


def test_both_dialects_ship_the_same_migrations() -> None:
    """Every change exists for both databases, under the same version number and name."""
    sqlite = [(v, name) for v, name, _ in migrations("sqlite")]
    postgres = [(v, name) for v, name, _ in migrations("postgres")]
    assert sqlite == postgres
    assert [v for v, _ in sqlite] == list(range(1, len(sqlite) + 1))


async def test_sqlite_and_postgres_schemas_match(tmp_path: Path, pg_database: str) -> None:
    """Same tables, same columns in the same order, compatible types, same NOT NULLs and primary keys."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    await store.open()
    await store.aclose()
    lite = sqlite_schema(tmp_path / "s.sqlite3")
    pg = await postgres_schema(pg_database)
    assert sorted(lite) == sorted(pg)
    assert {"requests", "attempts", "agency_documents", "idempotency_keys", "webhooks", "schema_migrations"} <= set(pg)
    for table in lite:
        assert [c[0] for c in lite[table]] == [c[0] for c in pg[table]], table
        for (name, lite_type, lite_notnull, lite_pk), (_, pg_type, pg_notnull, pg_pk) in zip(
            lite[table], pg[table], strict=True
        ):
            assert pg_type in COMPATIBLE[lite_type], (table, name, lite_type, pg_type)
            assert (lite_notnull, lite_pk) == (pg_notnull, pg_pk), (table, name)


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of a gateway on a SQLite file that does not exist yet."""
    path = tmp_path / "var" / "gateway.sqlite3"
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(path))
    return path


@pytest.fixture
def postgres_env(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The environment of a gateway on an empty PostgreSQL database."""
    dsn = postgres.create_database(template=None)
    monkeypatch.setenv("MPP_STORE_DSN", dsn)
    yield dsn
    postgres.drop_database(dsn)


@pytest.mark.parametrize("env", ["sqlite_env", "postgres_env"])
def test_db_status_and_upgrade(env: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    """status exits 1 while migrations are pending; upgrade applies them once; then status exits 0."""
    request.getfixturevalue(env)
    every = ", ".join(str(v) for v, _, _ in migrations("sqlite"))
    assert main(["db", "status"]) == 1
    assert f"schema version 0; pending migrations: {every}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"applied {every}" in out and "pending migrations: none" in out
    assert main(["db", "upgrade"]) == 0
    assert "nothing to apply" in capsys.readouterr().out
    assert main(["db", "status"]) == 0


def test_db_status_names_an_unreachable_server_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database server: exit 2 with a message naming the host, not the password."""
    monkeypatch.setenv("MPP_STORE_DSN", "postgresql://mpp:s3cret-pw@127.0.0.1:9/mpp")
    assert main(["db", "status"]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "s3cret-pw" not in err


def _serve_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"id": "c", "name": "C", "key_sha256": ["0" * 64]}]}))
    values: dict[str, Any] = {
        "MPP_CLIENTS_FILE": str(clients),
        "MPP_DATA_KEYS": generate_data_key(),
        "MPP_ADAPTERS": "dukcapil",
        "MPP_PORT": "0",
        "MPP_AGENCY__DUKCAPIL__BASE_URL": "http://127.0.0.1:9",
        "MPP_AGENCY__DUKCAPIL__INSTITUTION": "i",
        "MPP_AGENCY__DUKCAPIL__USER_ID": "u",
        "MPP_AGENCY__DUKCAPIL__PASSWORD": "p",
        "MPP_AGENCY__DUKCAPIL__IP_USER": "127.0.0.1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_serve_refuses_to_start_on_a_schema_behind(
    postgres_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replica on an unmigrated PostgreSQL exits 2 saying to run db upgrade, instead of serving."""
    _serve_env(monkeypatch, tmp_path)
    assert main(["serve", "--host", "127.0.0.1"]) == 2
    err = capsys.readouterr().err
    assert "cannot start" in err and "mpp-gateway db upgrade" in err
    from gateway.store import postgres_status

    assert asyncio.run(postgres_status(postgres_env)).applied == ()  # serving never migrates PostgreSQL
