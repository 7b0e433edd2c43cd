"""What the API does when the store cannot write (full or read-only), and the audit entries of a request's life."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters import Registry, TransientAgencyError
from contracts import ServiceKind
from gateway import Dispatcher, RetryPolicy, SqliteStore
from gateway.audit import Auditor
from gateway.cli import main
from gateway.http import STATE
from gateway.store import NewRequest, StoreUnavailable, WriteHealth
from tests.fakes import KEY_A, NIK, FakeAdapter, envelope
from tests.store.test_schema import _serve_env

WAIT = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}


async def write(store: SqliteStore, sql: str) -> Any:
    """Run ``sql`` on the store's own write connection (a pragma there applies to its writes)."""
    assert store._writer is not None
    return await store._writer.submit(lambda c: c.execute(sql).fetchall())


def pragma(store: SqliteStore, sql: str) -> None:
    """Set a pragma on the store's write connection, outside any transaction (its writes obey it)."""
    assert store._writer is not None and store._writer._conn is not None
    store._writer._conn.execute(sql)


async def fill_up(store: SqliteStore) -> None:
    """Cap the database at its current size (``max_page_count``) and use up what free space it has left: from now
    on a write that needs a page fails with SQLITE_FULL, as on a full disk."""
    await write(store, "CREATE TABLE filler (x BLOB)")
    pragma(store, "PRAGMA max_page_count = 1")  # never below the current size: capped there
    for size in (4096, 1024, 128, 16):
        for _ in range(500):
            try:
                await write(store, f"INSERT INTO filler VALUES (zeroblob({size}))")  # noqa: S608 - constant
            except sqlite3.OperationalError:
                break


async def test_a_full_database_refuses_requests_with_503_and_calls_no_agency(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Database full: a lookup is answered 503 store-unavailable with Retry-After, the agency is not called, /readyz
    fails; once there is room again the next request is stored and answered, and /readyz is ready, no restart."""
    store = gateway_client.app[STATE].store
    assert (await gateway_client.get("/readyz")).status == 200
    await fill_up(store)
    for _ in range(50):  # the last pages may hold a request or two more
        called = len(fake_adapter.calls)
        resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
        if resp.status not in (200, 202):  # 202: stored, but its result could not be recorded
            break
    problem = await resp.json()
    assert (resp.status, problem.get("type")) == (503, "/problems/store-unavailable"), problem
    assert int(resp.headers["Retry-After"]) > 0
    assert "Traceback" not in await resp.text() and NIK not in await resp.text()
    assert len(fake_adapter.calls) == called  # the request that could not be stored never reached the agency
    ready = await gateway_client.get("/readyz")
    assert (ready.status, (await ready.json())["type"]) == (503, "/problems/not-ready")
    pragma(store, "PRAGMA max_page_count = 1000000")
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
    assert (resp.status, (await resp.json())["status"]) == (200, "completed")
    assert len(fake_adapter.calls) == called + 1
    assert (await gateway_client.get("/readyz")).status == 200


def test_readiness_returns_after_the_hold_or_at_the_next_successful_write() -> None:
    """A failed write makes the store unwritable for the hold; a later success or the hold's end clears it."""
    now = [100.0]
    health = WriteHealth(hold=10.0, clock=lambda: now[0])
    assert health.writable
    health.failed("SQLITE_FULL")
    assert not health.writable
    now[0] += 9.9
    assert not health.writable
    now[0] += 0.2
    assert health.writable  # ready again: the next write tells
    health.failed("SQLITE_FULL")
    assert not health.writable
    health.succeeded()
    assert health.writable


async def test_a_read_only_database_fails_writes_as_unavailable_and_recovers(tmp_path: Path) -> None:
    """Writes to a database turned read-only raise StoreUnavailable and ping fails; writable again, both recover."""
    store = SqliteStore(tmp_path / "s.sqlite3", synchronous="NORMAL")
    await store.open()
    try:
        pragma(store, "PRAGMA query_only = 1")
        with pytest.raises(StoreUnavailable, match="readonly"):
            await store.insert(request("r1"))
        assert not await store.ping()
        pragma(store, "PRAGMA query_only = 0")
        await store.insert(request("r2"))
        assert await store.ping()
    finally:
        await store.aclose()


def read_only_connect(path: str) -> sqlite3.Connection:
    """The store's connection, made read-only as a read-only file or folder would (root ignores file modes)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA query_only = 1")
    return conn


async def test_a_read_only_database_is_refused_when_the_store_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that is up to date but cannot be written fails at open, not at the first request."""
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path, synchronous="NORMAL")
    await store.open()
    await store.aclose()
    monkeypatch.setattr("gateway.store._sqlite_writer.connect", read_only_connect)
    with pytest.raises(StoreUnavailable, match="cannot be written"):
        await SqliteStore(path, synchronous="NORMAL").open()


def test_serve_on_a_read_only_database_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve on a database it cannot write prints one 'cannot start' line naming the file, no traceback, exit 2."""
    _serve_env(monkeypatch, tmp_path)
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(tmp_path / "gateway.sqlite3"))
    monkeypatch.setattr("gateway.store._sqlite_writer.connect", read_only_connect)
    assert main(["serve", "--host", "127.0.0.1"]) == 2
    stderr = capsys.readouterr().err
    err = [line for line in stderr.splitlines() if not line.startswith("{")]  # the JSON lines are start-up logs
    assert len(err) == 1 and "Traceback" not in stderr, err
    assert err[0].startswith("mpp-gateway: cannot start: the SQLite database ") and "cannot be written" in err[0]


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="root writes through file modes")  # fmt: skip
def test_serve_in_a_read_only_folder_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store file that cannot be created (read-only folder): one 'cannot start' line, exit 2."""
    _serve_env(monkeypatch, tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(folder / "gateway.sqlite3"))
    try:
        assert main(["serve", "--host", "127.0.0.1"]) == 2
    finally:
        folder.chmod(0o755)
    stderr = capsys.readouterr().err
    err = [line for line in stderr.splitlines() if not line.startswith("{")]  # the JSON lines are start-up logs
    assert len(err) == 1 and "Traceback" not in stderr, err
    assert "cannot start" in err[0] and "Permission denied" in err[0], err


def request(request_id: str, kind: str = "lookup") -> NewRequest:
    service = "fake.thing.submit" if kind == "submission" else "fake.thing.lookup"
    return NewRequest(
        id=request_id, client_id="counter-a", service=service, agency="fake", kind=ServiceKind(kind),
        mpp_id="mpp-a", desk="d", operator="o", nik_masked="3201**********01",
        envelope={"applicant": {"nik": NIK}, "payload": {"value": "v"}}, trace_id=None, traceparent=None,
        created_at=dt.datetime.now(dt.UTC), deadline_at=time.time() + 30,
    )  # fmt: skip


async def test_a_deferred_submission_keeps_one_acceptance_and_one_final_entry(tmp_path: Path) -> None:
    """A submission sent back to the queue and run again later has exactly its acceptance and its final entry."""
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    adapter = FakeAdapter()
    adapter.script = [TransientAgencyError("503")] * 2  # the first run's attempts: deferred, then completed
    registry = Registry()
    registry.add(adapter)
    auditor = Auditor(store, key=b"k" * 32)

    async def no_sleep(seconds: float) -> None:
        return None

    policy = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.01, call_timeout=1.0, defer=0.05)
    dispatcher = Dispatcher(
        store, registry, owner="test", concurrency=2, lease_seconds=3, sweep_interval=0.02,
        policies={ServiceKind.SUBMISSION: policy, ServiceKind.LOOKUP: policy}, sleep=no_sleep, auditor=auditor,
    )  # fmt: skip
    await dispatcher.start()
    try:
        new = request("s1", kind="submission")
        await store.insert(new, audit=auditor.accepted(new, NIK))
        dispatcher.submit("s1")
        for _ in range(300):
            row = await store.get("s1")
            if row is not None and row.status == "completed":
                break
            await asyncio.sleep(0.02)
        assert row is not None and row.status == "completed"
        entries = [(e.event.request_id, e.event.action) for e in await store.audit_entries(0, 100)]
    finally:
        await dispatcher.stop(0.5)
        await store.aclose()
    assert [a.outcome for a in row.attempts][:2] == ["transient", "transient"]  # the first run was deferred
    assert entries == [("s1", "request.accepted"), ("s1", "request.completed")]


class _FullStore:
    """An audit store whose every append fails as a full database does."""

    async def append_audit(self, events: Any) -> Any:
        raise StoreUnavailable("full")


async def test_an_audit_append_on_an_unavailable_store_says_so() -> None:
    """An entry that cannot be written because the store is full fails as StoreUnavailable, not a bare error."""
    auditor = Auditor(_FullStore(), retry_delay=0.0)  # type: ignore[arg-type]
    event = auditor.accepted(request("r1"), NIK)
    assert event is not None
    with pytest.raises(StoreUnavailable):
        await auditor.record(event)


async def test_a_write_failing_for_want_of_space_on_any_route_is_a_503_with_retry_after(aiohttp_client: Any) -> None:
    """StoreUnavailable raised by any handler (a read's audit entry, say) answers 503 store-unavailable, not 500."""
    from aiohttp import web

    from gateway.http import problem_middleware

    async def failing(request: web.Request) -> web.Response:
        raise StoreUnavailable("database or disk is full")

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/v1/requests/x", failing)
    client = await aiohttp_client(app)
    resp = await client.get("/v1/requests/x")
    assert resp.status == 503
    assert resp.headers["Retry-After"] == str(StoreUnavailable.retry_after)
    assert (await resp.json())["type"].endswith("/store-unavailable")
