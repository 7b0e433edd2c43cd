"""The SQLite write path: operations run on the loop, a commit is acknowledged only once the log is synced."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway import SqliteStore
from gateway.store import Writer
from tests.store.support import new


def _insert(value: int) -> Any:
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'test')", (value,))
        return value

    return op


def _rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations WHERE applied_at = 'test'")]


async def _writer(path: Path, synchronous: str = "FULL", group_window: float = 0.0) -> Writer:
    writer = Writer(str(path), asyncio.get_running_loop(), 512, synchronous, group_window)
    await writer.open()
    return writer


async def test_a_durable_write_resolves_only_after_the_log_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With synchronous=FULL the future waits for the sync thread's fsync of the log, not just the commit."""
    writer = await _writer(tmp_path / "w.sqlite3")
    release = threading.Event()
    synced: list[int] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        release.wait(10)
        real_fsync(fd)
        synced.append(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    try:
        fut = writer.submit(_insert(1_000_001))
        await asyncio.sleep(0.2)
        assert not fut.done()
        assert _rows(tmp_path / "w.sqlite3") == [1_000_001]  # committed, visible, not yet acknowledged
        release.set()
        assert await asyncio.wait_for(fut, 5) == 1_000_001
        assert synced
    finally:
        release.set()
        await writer.aclose()


async def test_a_write_that_does_not_wait_for_the_disk_resolves_at_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """durable=False resolves once committed, while the fsync is held; a durable write after it still waits for
    the fsync, which takes both to disk."""
    writer = await _writer(tmp_path / "w.sqlite3")
    release = threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    try:
        assert await asyncio.wait_for(writer.submit(_insert(1_500_001), durable=False), 5) == 1_500_001
        durable = writer.submit(_insert(1_500_002))
        await asyncio.sleep(0.2)
        assert not durable.done()
        assert _rows(tmp_path / "w.sqlite3") == [1_500_001, 1_500_002]
        release.set()
        assert await asyncio.wait_for(durable, 5) == 1_500_002
    finally:
        release.set()
        await writer.aclose()


async def test_a_write_that_does_not_wait_for_the_disk_still_fails_when_it_cannot_commit(tmp_path: Path) -> None:
    """durable=False is no way around a failing write: the commit's error reaches its caller."""
    writer = await _writer(tmp_path / "w.sqlite3")
    try:
        await writer.submit(_insert(1_600_001))
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.wait_for(writer.submit(_insert(1_600_001), durable=False), 5)
    finally:
        await writer.aclose()


async def test_writes_queued_in_one_loop_turn_share_one_commit_and_one_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many concurrent writes need far fewer fsyncs than writes (group commit)."""
    writer = await _writer(tmp_path / "w.sqlite3")
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    try:
        values = await asyncio.gather(*(writer.submit(_insert(2_000_000 + i)) for i in range(200)))
        assert values == [2_000_000 + i for i in range(200)]
        assert 1 <= len(calls) <= 2
        assert len(_rows(tmp_path / "w.sqlite3")) == 200
    finally:
        await writer.aclose()


async def test_each_of_many_sequential_writes_wakes_the_sync_thread(tmp_path: Path) -> None:
    """One durable write after another: none waits for the sync thread's one-second idle turn (a missed wake-up
    would make 30 writes take 30 s)."""
    writer = await _writer(tmp_path / "w.sqlite3")
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        for n in range(30):
            await asyncio.wait_for(writer.submit(_insert(4_000_000 + n)), 5)
            await asyncio.sleep(0.005 * (n % 3))  # the thread is caught syncing, idle, and in between
        assert loop.time() - started < 15
    finally:
        await writer.aclose()


async def test_an_idle_store_syncs_at_once_whatever_its_group_window(tmp_path: Path) -> None:
    """The first durable write after a quiet spell is synced at once, not after the group window (10 s here)."""
    writer = await _writer(tmp_path / "w.sqlite3", group_window=10.0)
    try:
        assert await asyncio.wait_for(writer.submit(_insert(5_000_001)), 5) == 5_000_001
    finally:
        await writer.aclose()


async def test_writes_made_while_the_store_is_busy_share_one_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes arriving within the group window after a sync, even in different loop turns, share the next fsync."""
    writer = await _writer(tmp_path / "w.sqlite3", group_window=0.5)
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    try:
        await asyncio.wait_for(writer.submit(_insert(6_000_000)), 5)
        assert len(calls) == 1
        later = []
        for n in range(1, 4):
            later.append(writer.submit(_insert(6_000_000 + n)))
            await asyncio.sleep(0.03)  # each in its own commit
        assert await asyncio.wait_for(asyncio.gather(*later), 5) == [6_000_001, 6_000_002, 6_000_003]
        assert len(calls) == 2
    finally:
        await writer.aclose()


async def test_a_failed_sync_fails_the_writes_it_covered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync error is reported to every write waiting on it instead of acknowledging them."""
    writer = await _writer(tmp_path / "w.sqlite3")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    try:
        with pytest.raises(sqlite3.OperationalError, match="could not be synced"):
            await asyncio.wait_for(writer.submit(_insert(3_000_001)), 5)
    finally:
        monkeypatch.undo()
        await writer.aclose()


async def test_one_failing_operation_fails_alone_and_others_commit(tmp_path: Path) -> None:
    """A batch with a failing operation is run again with a savepoint each: only that one fails."""
    writer = await _writer(tmp_path / "w.sqlite3")
    try:
        results = await asyncio.gather(
            writer.submit(_insert(4_000_001)),
            writer.submit(_insert(4_000_001)),  # duplicate primary key
            writer.submit(_insert(4_000_002)),
            return_exceptions=True,
        )
        assert results[0] == 4_000_001
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert results[2] == 4_000_002
        assert sorted(_rows(tmp_path / "w.sqlite3")) == [4_000_001, 4_000_002]
    finally:
        await writer.aclose()


async def test_close_waits_for_queued_writes_to_be_durable(tmp_path: Path) -> None:
    """Writes submitted just before close are committed and resolved, and the file holds them after."""
    writer = await _writer(tmp_path / "w.sqlite3")
    futures = [writer.submit(_insert(5_000_000 + i)) for i in range(10)]
    await writer.aclose()
    assert [f.result() for f in futures] == [5_000_000 + i for i in range(10)]
    assert len(_rows(tmp_path / "w.sqlite3")) == 10
    assert not writer.is_alive()


async def test_the_log_is_checkpointed_into_the_database_in_the_background(tmp_path: Path) -> None:
    """Committed rows reach the main database file within seconds, checkpointed by the sync thread."""
    path = tmp_path / "w.sqlite3"
    writer = await _writer(path, synchronous="NORMAL")

    def in_main_file() -> int:
        # immutable=1 reads the database file alone, ignoring the write-ahead log.
        with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as plain:
            try:
                row = plain.execute("SELECT COUNT(*) FROM schema_migrations WHERE applied_at = 'test'").fetchone()
            except sqlite3.OperationalError:  # not even the schema has been checkpointed yet
                return 0
            return int(row[0])

    try:
        await asyncio.gather(*(writer.submit(_insert(6_000_000 + i)) for i in range(50)))
        assert in_main_file() == 0  # only in the log: no checkpoint ran inside the commit
        for _ in range(50):
            await asyncio.sleep(0.1)
            if in_main_file() == 50:
                break
        assert in_main_file() == 50
    finally:
        await writer.aclose()


async def test_a_write_waits_for_another_process_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    """While another connection holds the write lock the loop keeps running, and the write lands after it."""
    path = tmp_path / "w.sqlite3"
    writer = await _writer(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        fut = writer.submit(_insert(7_000_001))
        ticks = 0
        for _ in range(20):
            started = asyncio.get_running_loop().time()
            await asyncio.sleep(0.01)
            assert asyncio.get_running_loop().time() - started < 0.5  # the loop was never stuck in SQLite
            ticks += 1
        assert not fut.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(fut, 5) == 7_000_001
        assert ticks == 20
    finally:
        other.close()
        await writer.aclose()


async def test_a_write_fails_once_another_process_holds_the_lock_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued writes are failed with SQLite's 'locked' error after the give-up time, not kept forever."""
    monkeypatch.setattr("gateway.store._sqlite_writer._LOCKED_GIVE_UP_SECONDS", 0.2)
    path = tmp_path / "w.sqlite3"
    writer = await _writer(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await asyncio.wait_for(writer.submit(_insert(8_000_001)), 5)
        other.execute("ROLLBACK")
        assert await asyncio.wait_for(writer.submit(_insert(8_000_002)), 5) == 8_000_002
    finally:
        other.close()
        await writer.aclose()


def _modes(folder: Path, prefix: str) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir() if p.name.startswith(prefix)}


async def test_the_database_files_are_readable_by_their_owner_alone(tmp_path: Path) -> None:
    """A new store's file and its -wal and -shm files are 0600 whatever the umask; a file made 0644 before is
    tightened at open."""
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "owner.sqlite3"
        store = SqliteStore(path, synchronous="NORMAL")
        await store.open()
        await store.insert(new("req_owner"))
        modes = _modes(tmp_path, "owner")
        await store.aclose()
        assert modes == {"owner.sqlite3": 0o600, "owner.sqlite3-wal": 0o600, "owner.sqlite3-shm": 0o600}
        loose = tmp_path / "loose.sqlite3"
        loose.touch(mode=0o644)
        os.chmod(loose, 0o644)
        store = SqliteStore(loose, synchronous="NORMAL")
        await store.open()
        await store.aclose()
        assert loose.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_umask)
