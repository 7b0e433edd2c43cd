"""The request path of a waited lookup: stored with its request.accepted entry before the agency is called, finished
with its result and request.completed in one more write before the answer, and logged at info once."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient

from adapters import TransientAgencyError
from gateway import configure_logging
from gateway.audit import verify_store
from gateway.http import STATE
from gateway.store import RequestQuery, SqliteStore
from tests.fakes import KEY_A, FakeAdapter, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}
WAIT = {**AUTH, "Prefer": "wait=5"}


#: The store methods that write a request (the app's background sweeps write other tables meanwhile).
_REQUEST_WRITES = ("insert", "claim", "finish", "release", "record_attempt", "renew", "make_durable")


def count_writes(client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """The request writes queued on the SQLite store's write connection (each one atomic operation), with whether
    each waits for the disk."""
    store = client.app[STATE].store
    assert isinstance(store, SqliteStore) and store._writer is not None
    writer, writes = store._writer, []
    original = writer.submit

    def submit(fn: Any, *, durable: bool = True) -> Any:
        name = fn.__qualname__.split(".")[1]
        if name in _REQUEST_WRITES:
            writes.append((name, durable))
        return original(fn, durable=durable)

    monkeypatch.setattr(writer, "submit", submit)
    return writes


async def actions(client: TestClient[Any, Any], request_id: str) -> list[str]:
    entries = await client.app[STATE].store.audit_entries(0, 10_000)
    return [e.event.action for e in entries if e.event.request_id == request_id]


async def test_a_waited_lookup_is_stored_before_its_call_and_finished_in_one_more_write(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the agency holds the call, the lookup is already stored (a request that cannot be stored is never
    sent), committed without waiting for the disk; its end is one more write, durable before the answer, with the
    result and request.completed; the chain verifies and GET shows what was answered."""
    writes = count_writes(gateway_client, monkeypatch)
    store = gateway_client.app[STATE].store
    fake_adapter.release.clear()
    posted = asyncio.ensure_future(gateway_client.post("/v1/requests", json=envelope(), headers=WAIT))
    for _ in range(200):
        if fake_adapter.calls:
            break
        await asyncio.sleep(0.01)
    assert len(fake_adapter.calls) == 1
    page = await store.search(RequestQuery())
    assert [row.status for row in page.requests] == ["in_progress"] and writes == [("insert", False)]
    fake_adapter.release.set()
    resp = await posted
    answered = await resp.json()
    assert (resp.status, answered["status"]) == (200, "completed")
    assert writes == [("insert", False), ("finish", True)]
    assert await actions(gateway_client, answered["id"]) == ["request.accepted", "request.completed"]
    assert (await verify_store(store)).intact
    stored = await gateway_client.get(resp.headers["Location"], headers=AUTH)
    assert await stored.json() == answered


async def test_a_lookup_still_running_when_its_wait_expires_is_stored_before_the_202(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait expires before the agency answers: by the 202 the request is stored in progress with its
    request.accepted entry, and on disk (a durable write of its row); its end then records it completed with
    request.completed."""
    writes = count_writes(gateway_client, monkeypatch)
    fake_adapter.release.clear()
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers={**AUTH, "Prefer": "wait=0.05"})
    answered = await resp.json()
    assert (resp.status, answered["status"]) == (202, "in_progress")
    assert writes == [("insert", False), ("make_durable", True)]
    store = gateway_client.app[STATE].store
    row = await store.get(answered["id"])
    assert row is not None and row.status == "in_progress"
    assert await actions(gateway_client, answered["id"]) == ["request.accepted"]
    fake_adapter.release.set()
    for _ in range(200):
        row = await store.get(answered["id"])
        if row is not None and row.status == "completed":
            break
        await asyncio.sleep(0.02)
    assert row is not None and row.status == "completed" and row.result is not None
    assert await actions(gateway_client, answered["id"]) == ["request.accepted", "request.completed"]
    assert (await verify_store(store)).intact


async def test_a_retried_lookup_is_stored_before_its_retry_and_answered_whole(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """A lookup whose first call fails and is retried answers with both attempts, as the stored record holds them,
    with one request.accepted and one request.completed entry."""
    fake_adapter.script = [TransientAgencyError("503", agency="fake")]
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
    answered = await resp.json()
    assert [a["outcome"] for a in answered["attempts"]] == ["transient", "completed"]
    assert await actions(gateway_client, answered["id"]) == ["request.accepted", "request.completed"]
    assert await (await gateway_client.get(resp.headers["Location"], headers=AUTH)).json() == answered


async def test_a_waited_lookup_with_an_idempotency_key_is_stored_first_and_replays(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyed lookup is two durable writes (a replay may hand its id out before its end), and the same key
    answers the same request without a second call."""
    writes = count_writes(gateway_client, monkeypatch)
    headers = {**WAIT, "Idempotency-Key": "lookup-1"}
    first = await gateway_client.post("/v1/requests", json=envelope(), headers=headers)
    assert first.status == 200 and writes == [("insert", True), ("finish", True)]
    again = await gateway_client.post("/v1/requests", json=envelope(), headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == (await first.json())["id"] and len(fake_adapter.calls) == 1


async def test_a_completed_lookup_logs_one_line_at_info(gateway_client: TestClient[Any, Any]) -> None:
    """A waited lookup that completes logs its access line at info; its acceptance and its end are at debug."""
    stream = io.StringIO()
    configure_logging("debug", stream)  # loggers keep the level they were first used at: the whole test at debug
    try:
        resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
        assert resp.status == 200
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    levels = [(e["event"], e["level"]) for e in lines if e["event"].startswith(("http.", "request."))]
    assert levels == [("request.accepted", "debug"), ("request.finished", "debug"), ("http.request", "info")]
