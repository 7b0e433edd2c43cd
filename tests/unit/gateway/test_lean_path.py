"""A waited lookup writes once: the request, its result and its audit entries in one transaction before the answer;
stored before a 202 when its wait expires first; not answered when that one write fails."""

from __future__ import annotations

import asyncio
import datetime as dt
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
from gateway.store import SqliteStore, StoreUnavailable
from tests.fakes import KEY_A, NIK, FakeAdapter, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}
WAIT = {**AUTH, "Prefer": "wait=5"}


#: The store methods that write a request (the app's background sweeps write other tables meanwhile).
_REQUEST_WRITES = ("insert", "insert_finished", "claim", "finish", "release", "record_attempt", "renew")


def count_writes(client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the request writes queued on the SQLite store's write connection: each is one atomic operation."""
    store = client.app[STATE].store
    assert isinstance(store, SqliteStore) and store._writer is not None
    writer, writes = store._writer, [0]
    original = writer.submit

    def submit(fn: Any) -> Any:
        if fn.__qualname__.split(".")[1] in _REQUEST_WRITES:
            writes[0] += 1
        return original(fn)

    monkeypatch.setattr(writer, "submit", submit)
    return writes


async def actions(client: TestClient[Any, Any], request_id: str) -> list[str]:
    entries = await client.app[STATE].store.audit_entries(0, 10_000)
    return [e.event.action for e in entries if e.event.request_id == request_id]


async def test_a_waited_lookup_is_one_write_with_its_result_and_both_audit_entries(
    gateway_client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waited lookup that ends within its wait makes one store write before its 200: the request, its result and
    request.accepted + request.completed; the chain verifies and GET shows what was answered."""
    writes = count_writes(gateway_client, monkeypatch)
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
    answered = await resp.json()
    assert (resp.status, answered["status"]) == (200, "completed")
    assert writes[0] == 1
    assert await actions(gateway_client, answered["id"]) == ["request.accepted", "request.completed"]
    assert (await verify_store(gateway_client.app[STATE].store)).intact
    stored = await gateway_client.get(resp.headers["Location"], headers=AUTH)
    assert await stored.json() == answered


async def test_a_lookup_whose_one_write_fails_is_503_with_no_result_and_not_stored(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the one write of a finished lookup fails for want of space, the answer is 503 store-unavailable with
    Retry-After and no result, and nothing of the request is stored (no row, no audit entry)."""
    store = gateway_client.app[STATE].store

    async def full(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("database or disk is full")

    monkeypatch.setattr(store, "insert_finished", full)
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
    problem = await resp.json()
    assert (resp.status, problem["type"]) == (503, "/problems/store-unavailable")
    assert int(resp.headers["Retry-After"]) > 0 and "Location" not in resp.headers
    assert "result" not in problem and NIK not in await resp.text()
    assert len(fake_adapter.calls) == 1
    counts = await store.requests_by_status(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert sum(counts.values()) == 0
    assert await store.audit_entries(0, 10) == []


async def test_a_lookup_still_running_when_its_wait_expires_is_stored_before_the_202(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """The wait expires before the agency answers: by the 202 the request is stored in progress with its
    request.accepted entry; its end then records it completed with request.completed."""
    fake_adapter.release.clear()
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers={**AUTH, "Prefer": "wait=0.05"})
    answered = await resp.json()
    assert (resp.status, answered["status"]) == (202, "in_progress")
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
    """A lookup whose first call fails is stored before the attempt is recorded; the answer holds both attempts,
    as the stored record does, with one request.accepted and one request.completed entry."""
    fake_adapter.script = [TransientAgencyError("503", agency="fake")]
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT)
    answered = await resp.json()
    assert [a["outcome"] for a in answered["attempts"]] == ["transient", "completed"]
    assert await actions(gateway_client, answered["id"]) == ["request.accepted", "request.completed"]
    assert await (await gateway_client.get(resp.headers["Location"], headers=AUTH)).json() == answered


async def test_a_waited_lookup_with_an_idempotency_key_is_stored_first_and_replays(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyed lookup is stored before its call (a replay, even while the first is in flight, must find it): two
    writes, and the same key answers the same request without a second call."""
    writes = count_writes(gateway_client, monkeypatch)
    headers = {**WAIT, "Idempotency-Key": "lookup-1"}
    first = await gateway_client.post("/v1/requests", json=envelope(), headers=headers)
    assert first.status == 200 and writes[0] == 2
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
