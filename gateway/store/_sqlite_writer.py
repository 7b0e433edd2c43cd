"""The SQLite write path: operations run on the event loop's thread, one thread makes their commits durable.

A write is a few SQLite statements of microseconds each; what takes time is making the commit durable. So the
operations queued during one turn of the event loop run there and then, in one transaction, bare (should one
fail, the batch is undone and run again with a savepoint per operation, so one failure does not undo the others),
and commit without waiting for the disk (``synchronous=NORMAL`` in WAL mode writes the log, it does not sync it).
With ``synchronous=FULL`` (the default) no future is resolved yet: the ``sqlite-sync`` thread fsyncs the
write-ahead log once for every commit made since its last fsync (group commit), and only then are those futures
resolved, so nothing is acknowledged before it is on disk. The same thread checkpoints the log into the database
file in the background, so that a checkpoint never stalls the event loop.

An fsync of the log costs about 125 us of CPU here, whatever it covers. With a ``group_window`` (the gateway's is
1 ms), a store that synced within the last ten windows is busy, and its sync thread waits one window after a
wake-up before it syncs, so that the commits of the requests in flight meanwhile share the fsync; an idle store
syncs at once. In the benchmark, 1 ms gave 12% less CPU per lookup at 64 connections, 18% more lookups from one
worker and 9% more durable submissions at 64 connections, for at most 1 ms more on a durable write (README, "A
leaner request path").

Why not a writer thread for the statements: every statement releases and retakes the GIL, and under load each
retake waits for the event loop's thread, so a batch of a few operations takes several milliseconds of wall clock
for a fraction of one of CPU (README, "Benchmark").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from ._migrations import migrations

__all__ = ["Op", "Writer", "connect", "migrate", "unwritable"]

#: One queued write: what to run on the write connection, the future its result resolves, and whether that waits
#: until the commit is on disk (``False``: resolved once committed; a later durable commit makes it durable too).
Op = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", bool]
#: What became of one operation: its future, its value, or the exception it raised.
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

#: How often the log is checkpointed into the database file while there are writes.
_CHECKPOINT_SECONDS = 1.0
#: A store that synced within this many group windows is busy: its next sync waits a window for company.
_BUSY = 10
#: What a reset log is truncated back to.
_WAL_SIZE_LIMIT = 64 * 1024 * 1024
#: How long queued writes wait for another process's write lock (another worker, a CLI command) before failing,
#: and how long they pause between tries.
_LOCKED_GIVE_UP_SECONDS = 30.0
_LOCKED_RETRY_SECONDS = 0.0005



def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, _, sql in migrations("sqlite"):
        if version in applied:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process (a second worker) may have applied it while this one waited for the lock.
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                conn.execute("COMMIT")
                continue
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, dt.datetime.now(dt.UTC).isoformat()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _check_writable(conn: sqlite3.Connection) -> None:
    """Fail now, not at the first request, when the database cannot be written (a read-only file, folder or
    connection): a write statement that changes nothing still needs write access."""
    conn.execute("BEGIN")
    try:
        conn.execute("DELETE FROM schema_migrations WHERE 0")
    finally:
        conn.execute("ROLLBACK")


class Writer:
    """Owns the write connection: runs queued operations on the loop, settles them once their commit is durable."""

    def __init__(
        self, path: str, loop: asyncio.AbstractEventLoop, max_batch: int, synchronous: str, group_window: float = 0.0
    ) -> None:
        self._path = path
        #: Seconds a busy store's sync thread waits for more commits before it syncs (0: never waits).
        self._group_window = group_window
        self._loop = loop
        self._max_batch = max_batch
        self._synchronous = synchronous.upper()
        #: Whether the sync thread must fsync the log before a commit's futures are resolved.
        self._durable = self._synchronous in {"FULL", "EXTRA"}
        self._memory = path == ":memory:"
        self._conn: sqlite3.Connection | None = None
        self._pending: list[Op] = []
        self._scheduled = False
        self._locked_since: float | None = None
        self._commits = 0
        #: Commits made but not yet known durable, oldest first: ``(commit number, outcomes)``.
        self._unsynced: collections.deque[tuple[int, list[Outcome]]] = collections.deque()
        self._wake = threading.Condition()
        self._sync_target = 0
        #: Set by the sync thread, under ``_wake``, before it looks for work and waits: only then does a commit
        #: need to take the lock and wake it; a thread busy syncing finds the new target on its next turn.
        self._sync_idle = False
        self._stopping = False
        self._sync_thread: threading.Thread | None = None

    async def open(self) -> None:
        """Connect and migrate (in a thread: it may wait on another process's lock), then start the sync thread."""
        self._conn = await asyncio.to_thread(self._connect)
        self._sync_thread = threading.Thread(target=self._sync_loop, name="sqlite-sync", daemon=True)
        self._sync_thread.start()

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self._path)
        try:
            # Durable commits are synced by the sync thread; the loop's commits only write the log.
            conn.execute(f"PRAGMA synchronous={'NORMAL' if self._durable else self._synchronous}")
            # Checkpoints run in the sync thread, never inside a commit on the loop.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
            migrate(conn)  # under connect()'s busy timeout: it may wait for another worker's migration
            _check_writable(conn)
            # On the loop, a write never sleeps in SQLite's busy handler: when another process holds the write
            # lock, BEGIN fails at once and the batch is tried again a moment later (``_flush``).
            conn.execute("PRAGMA busy_timeout=0")
        except BaseException:
            conn.close()
            raise
        return conn

    def is_alive(self) -> bool:
        """Whether writes can be made: open, and the sync thread running."""
        return self._conn is not None and self._sync_thread is not None and self._sync_thread.is_alive()

    def submit(self, fn: Callable[[sqlite3.Connection], Any], *, durable: bool = True) -> asyncio.Future[Any]:
        """Queue ``fn`` for the transaction at the end of this loop turn; the future resolves once it is durable
        (``durable=False``: once committed; the log's next sync, which a later durable write waits for, takes it
        to disk with that write)."""
        if self._conn is None:
            raise RuntimeError("store is not open")
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._pending.append((fn, fut, durable))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        conn = self._conn
        while self._pending and conn is not None:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    batch, self._pending = self._pending, []
                    _settle([(fut, None, exc) for _, fut, _ in batch])
                    return
                self._locked(exc)
                return
            self._locked_since = None
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                outcomes = _run_batch(conn, batch)
            except _Locked as locked:
                self._pending[:0] = batch
                self._locked(locked.cause)
                return
            if all(exc is not None for _, _, exc in outcomes):  # rolled back: nothing to make durable
                _settle(outcomes)
                continue
            self._commits += 1
            if not self._durable or self._memory:
                _settle(outcomes)
                continue
            eager = {fut for _, fut, durable in batch if not durable}
            if eager:  # committed, so known to fit; what waits for the disk is left
                _settle([outcome for outcome in outcomes if outcome[0] in eager])
                outcomes = [outcome for outcome in outcomes if outcome[0] not in eager]
                if not outcomes:
                    continue
            self._unsynced.append((self._commits, outcomes))
            self._sync_target = self._commits
            if self._sync_idle:
                with self._wake:
                    self._wake.notify()

    def _locked(self, exc: sqlite3.OperationalError) -> None:
        """Another process holds the write lock: try again shortly, or fail what waits once it is held too long."""
        now = time.monotonic()
        if self._locked_since is None:
            self._locked_since = now
        if now - self._locked_since >= _LOCKED_GIVE_UP_SECONDS:
            self._locked_since = None
            batch, self._pending = self._pending, []
            _settle([(fut, None, exc) for _, fut, _ in batch])
            return
        self._scheduled = True
        self._loop.call_later(_LOCKED_RETRY_SECONDS, self._flush)

    def _synced(self, through: int, error: BaseException | None) -> None:
        """On the loop: resolve every commit up to ``through``, or fail them when the fsync failed."""
        while self._unsynced and self._unsynced[0][0] <= through:
            _, outcomes = self._unsynced.popleft()
            if error is not None:
                failure = SyncFailed(f"the write-ahead log could not be synced: {error}")
                outcomes = [(fut, None, exc or failure) for fut, _, exc in outcomes]
            _settle(outcomes)

    def _sync_loop(self) -> None:
        wal_fd: int | None = None
        checkpointer: sqlite3.Connection | None = None
        synced = 0
        synced_at = float("-inf")
        checkpointed, checkpoint_at = 0, time.monotonic()
        try:
            while True:
                with self._wake:
                    # Idle first, then the check: a commit after the check sees the flag and wakes the thread.
                    self._sync_idle = True
                    if self._sync_target <= synced and not self._stopping:
                        self._wake.wait(timeout=_CHECKPOINT_SECONDS)
                    self._sync_idle = False
                    target, stopping = self._sync_target, self._stopping
                if target > synced:
                    window = self._group_window
                    if window and time.monotonic() - synced_at < _BUSY * window:
                        time.sleep(window)  # busy: the commits made while this wait lasts share the fsync
                        target = self._sync_target
                    synced_at = time.monotonic()
                    error: BaseException | None = None
                    try:
                        if wal_fd is None:
                            wal_fd = os.open(self._path + "-wal", os.O_RDONLY)
                        os.fsync(wal_fd)
                    except OSError as exc:
                        error = exc
                    synced = target
                    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                        self._loop.call_soon_threadsafe(self._synced, target, error)
                elif stopping:
                    return
                commits = self._commits
                due = time.monotonic() - checkpoint_at >= _CHECKPOINT_SECONDS
                if due and commits > checkpointed and not self._memory:
                    if checkpointer is None:
                        checkpointer = connect(self._path)
                    with contextlib.suppress(sqlite3.Error):  # busy or failing: the next turn tries again
                        checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    checkpointed, checkpoint_at = commits, time.monotonic()
        finally:
            if wal_fd is not None:
                os.close(wal_fd)
            if checkpointer is not None:
                checkpointer.close()

    async def aclose(self) -> None:
        """Run what is queued, wait until it is durable, stop the sync thread and close the connection."""
        if self._conn is None:
            return
        self._flush()
        # Another process holds the write lock: _flush tries again on its own timer until it writes or gives up.
        while self._pending:  # noqa: ASYNC110 - polls at the retry's own pace
            await asyncio.sleep(_LOCKED_RETRY_SECONDS)
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._sync_thread is not None:
            await asyncio.to_thread(self._sync_thread.join)
            self._sync_thread = None
        # The thread has scheduled its last settlement: let it run before the connection goes.
        await asyncio.sleep(0)
        conn, self._conn = self._conn, None
        await asyncio.to_thread(conn.close)


def _run_batch(conn: sqlite3.Connection, batch: list[Op]) -> list[Outcome]:
    """Run ``batch`` in the transaction just begun: bare first, one savepoint per operation only when one failed."""
    try:
        return _transaction(conn, batch, guarded=False)
    except OperationFailed as failed:
        if len(batch) == 1:
            return [(batch[0][1], None, failed.cause)]
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):  # another process took the lock between the rollback and this
                raise _Locked(exc) from exc
            return [(fut, None, exc) for _, fut, _ in batch]
        try:
            return _transaction(conn, batch, guarded=True)
        except Exception as exc:
            return [(fut, None, exc) for _, fut, _ in batch]
    except Exception as exc:
        return [(fut, None, exc) for _, fut, _ in batch]


def _transaction(conn: sqlite3.Connection, batch: list[Op], *, guarded: bool) -> list[Outcome]:
    """Run ``batch`` in the open transaction and commit; unguarded, the first failing operation undoes it all."""
    outcomes: list[Outcome] = []
    try:
        for fn, fut, _ in batch:
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


#: Primary result codes of a database that cannot take writes now: full (disk or ``max_page_count``), read-only, an
#: I/O error writing it, or unable to open its files.
_UNWRITABLE = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN})


class SyncFailed(sqlite3.OperationalError):
    """The write-ahead log could not be made durable (fsync failed): the commits waiting on it are not kept."""


def unwritable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot take writes now (rather than that the write itself was wrong)."""
    if isinstance(exc, SyncFailed):
        return True
    return isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _UNWRITABLE


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    # The extended code's low byte is the primary one: SQLITE_BUSY or SQLITE_LOCKED and their variants.
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class _Locked(Exception):
    def __init__(self, cause: sqlite3.OperationalError) -> None:
        super().__init__("locked")
        self.cause = cause


class OperationFailed(Exception):
    """An operation of an unguarded batch raised ``cause``; the batch was rolled back."""

    def __init__(self, cause: Exception) -> None:
        super().__init__("operation failed")
        self.cause = cause


def _settle(outcomes: list[Outcome]) -> None:
    for fut, value, exc in outcomes:
        if fut.done():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
