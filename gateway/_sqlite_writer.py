"""The SQLite writer thread: owns the one write connection and commits queued operations in batches.

Every statement releases and retakes the GIL, and retaking it waits for the event loop's thread: so operations
run bare in one transaction, and only when one fails is the batch undone and run again with a savepoint per
operation, so that one failure does not undo the others. Futures are resolved in one hop back to the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import importlib.resources
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Op", "Writer", "connect", "migrate", "migrations"]

#: One queued write: what to run on the write connection, and the future its result resolves.
Op = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


def migrations() -> list[tuple[int, str]]:
    """The versioned SQL migrations, in order: ``(version, sql)``."""
    folder = importlib.resources.files("gateway") / "migrations" / "sqlite"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, sql in migrations():
        if version in applied:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, dt.datetime.now(dt.UTC).isoformat()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class Writer(threading.Thread):
    """Owns the write connection; runs queued operations in batched transactions."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop, max_batch: int, synchronous: str) -> None:
        super().__init__(name="sqlite-writer", daemon=True)
        self._path = path
        self._synchronous = synchronous
        self._loop = loop
        self._max_batch = max_batch
        self.queue: queue.SimpleQueue[Op | None] = queue.SimpleQueue()
        self.ready: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run(self) -> None:
        try:
            conn = connect(self._path)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            migrate(conn)
        except BaseException as exc:
            self.ready.set_exception(exc)
            return
        self.ready.set_result(None)
        try:
            while True:
                first = self.queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                self._run_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Op]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]
        try:
            # Every statement releases and retakes the GIL, and retaking it waits for the event loop's thread:
            # savepoints around each operation would triple those waits. Operations almost never fail, so the
            # batch runs bare first; only when one fails is it undone and run again with a savepoint each.
            outcomes = self._transaction(conn, batch, guarded=False)
        except OperationFailed as failed:
            if len(batch) == 1:
                outcomes = [(batch[0][1], None, failed.cause)]
            else:
                try:
                    outcomes = self._transaction(conn, batch, guarded=True)
                except Exception as exc:
                    outcomes = [(fut, None, exc) for _, fut in batch]
        except Exception as exc:
            outcomes = [(fut, None, exc) for _, fut in batch]
        self._loop.call_soon_threadsafe(_settle, outcomes)

    @staticmethod
    def _transaction(
        conn: sqlite3.Connection, batch: list[Op], *, guarded: bool
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        """Run ``batch`` in one transaction; unguarded, the first failing operation undoes it all."""
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, fut in batch:
                if not guarded:
                    try:
                        outcomes.append((fut, fn(conn), None))
                    except Exception as exc:
                        raise OperationFailed(exc) from exc
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    value = fn(conn)
                except Exception as exc:  # one bad operation must not undo the others in the batch
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((fut, None, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((fut, value, None))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes


class OperationFailed(Exception):
    """An operation of an unguarded batch raised ``cause``; the batch was rolled back."""

    def __init__(self, cause: Exception) -> None:
        super().__init__("operation failed")
        self.cause = cause


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, exc in outcomes:
        if fut.done():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
