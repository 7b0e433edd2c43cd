"""Requests run at once by the API's own dispatcher slot: stored claimed, answered from memory, queued when full."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters import AgencyRejected, TransientAgencyError
from gateway.http import STATE
from tests.fakes import KEY_A, FakeAdapter, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}


def count_store_calls(client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Wrap the app's store so every call is counted by method name."""
    store = client.app[STATE].store
    calls: Counter[str] = Counter()
    for name in ("insert", "claim", "get", "finish", "release", "record_attempt"):
        original = getattr(store, name)

        def wrapper(*args: Any, __name: str = name, __original: Any = original, **kwargs: Any) -> Any:
            calls[__name] += 1
            return __original(*args, **kwargs)

        monkeypatch.setattr(store, name, wrapper)
    return calls


@pytest.mark.parametrize(
    ("script", "status", "attempts"),
    [([], "completed", 1), ([AgencyRejected("no such thing", agency="fake", slug="thing-not-found")], "rejected", 1)],
)
async def test_waited_lookup_is_one_insert_and_one_finish_and_matches_the_stored_record(
    gateway_client: TestClient[Any, Any],
    fake_adapter: FakeAdapter,
    monkeypatch: pytest.MonkeyPatch,
    script: list[BaseException],
    status: str,
    attempts: int,
) -> None:
    """A waited lookup costs one insert and one finish (no claim, no read-back); its answer equals GET's record."""
    fake_adapter.script = list(script)
    calls = count_store_calls(gateway_client, monkeypatch)
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers={**AUTH, "Prefer": "wait=5"})
    answered = await resp.json()
    assert (resp.status, answered["status"], len(answered["attempts"])) == (200, status, attempts)
    assert calls == Counter({"insert": 1, "finish": 1})
    stored = await (await gateway_client.get(resp.headers["Location"], headers=AUTH)).json()
    assert answered == stored


async def test_retried_lookup_answers_every_attempt_from_memory(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Attempts recorded before the last one are part of the answer, as they are of the stored record."""
    fake_adapter.script = [TransientAgencyError("503", agency="fake")]
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers={**AUTH, "Prefer": "wait=5"})
    answered = await resp.json()
    assert [a["outcome"] for a in answered["attempts"]] == ["transient", "completed"]
    stored = await (await gateway_client.get(resp.headers["Location"], headers=AUTH)).json()
    assert answered == stored


async def test_with_every_slot_busy_requests_queue_and_still_complete(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the dispatcher's concurrency, requests are stored accepted and queued, then run when a slot frees."""
    fake_adapter.release.clear()
    calls = count_store_calls(gateway_client, monkeypatch)
    concurrency = 4  # tests.conftest's dispatch_concurrency
    posts = [
        asyncio.create_task(gateway_client.post("/v1/requests", json=envelope(), headers=AUTH))
        for _ in range(concurrency + 2)
    ]
    answers = await asyncio.gather(*posts)
    assert [r.status for r in answers] == [202] * (concurrency + 2)
    await asyncio.sleep(0.05)
    assert calls["claim"] == 2  # the two past the limit went through the queue to the worker pool
    fake_adapter.release.set()
    for _ in range(200):
        records = [await (await gateway_client.get(r.headers["Location"], headers=AUTH)).json() for r in answers]
        if all(record["status"] == "completed" for record in records):
            break
        await asyncio.sleep(0.02)
    assert [record["status"] for record in records] == ["completed"] * (concurrency + 2)
