"""One slow agency does not hold up the others: per-agency permits come before the process's slots, and a
saturated agency's lookups are refused at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters import Registry, Service
from contracts import LocalizedText, ServiceKind
from gateway import AgencyConfig, Dispatcher, NewRequest, Settings, SqliteStore, build_app
from gateway.dispatch import AgencyPolicy, Permits
from gateway.http import STATE
from gateway.store import generate_data_key
from tests.fakes import KEY_A, NIK, FakeAdapter, ThingPayload, ThingResult, directory, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}


class OtherAdapter(FakeAdapter):
    """A second, prompt agency beside the fake one."""

    agency = "other"
    agency_name = "Other agency"
    problem_types = ()

    def services(self) -> Sequence[Service[Any, Any]]:
        return [
            Service(
                id="other.thing.lookup",
                title=LocalizedText(id="Cari benda lain", en="Look another thing up"),
                kind=ServiceKind.LOOKUP,
                personal_data=False,
                payload_model=ThingPayload,
                result_model=ThingResult,
            )
        ]


def new(request_id: str, service: str = "fake.thing.lookup") -> NewRequest:
    kind = ServiceKind.SUBMISSION if service.endswith("submit") else ServiceKind.LOOKUP
    return NewRequest(
        id=request_id, client_id="counter-a", service=service, agency=service.split(".")[0], kind=kind,
        mpp_id="mpp-a", desk="d", operator="o", nik_masked="3201**********01",
        envelope={"applicant": {"nik": NIK}, "payload": {"value": "v"}}, trace_id=None, traceparent=None,
        created_at=dt.datetime.now(dt.UTC), deadline_at=time.time() + 30,
    )  # fmt: skip


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (a hang guard, not a speed target)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_permits_are_first_come_first_served_and_bounded_by_the_line() -> None:
    """A free permit is taken at once, the next waits in line, and past the line the pool is saturated."""
    permits = Permits(1, queue_limit=1)
    first = permits.join()
    second = permits.join()
    assert first is not None and first.done()
    assert second is not None and not second.done()
    assert permits.saturated and permits.join() is None
    assert permits.join(force=True) is not None  # forced: waits anyway, past the bound
    permits.leave(first)
    assert second.done() and permits.held == 1


async def test_a_waiter_that_gives_up_passes_its_permit_on() -> None:
    """Leaving the line frees its place; leaving with a permit hands it to the next, or back to the pool."""
    permits = Permits(1)
    holder, quitter, next_in_line = permits.join(), permits.join(), permits.join()
    assert holder is not None and quitter is not None and next_in_line is not None
    permits.leave(quitter)
    assert permits.waiting == 1
    permits.leave(holder)
    assert next_in_line.done() and quitter.cancelled()
    permits.leave(next_in_line)
    assert (permits.held, permits.waiting, permits.free) == (0, 0, 1)


async def test_places_kept_for_requests_being_stored_count_until_taken_up_or_lapsed() -> None:
    """Requests checked together cannot all pass the bound: each keeps a place until it joins, or it lapses."""
    now = [0.0]
    permits = Permits(1, queue_limit=1, clock=lambda: now[0])
    assert permits.promise() and permits.promise()
    assert permits.saturated and not permits.promise()
    first = permits.join(promised=True)
    assert first is not None and first.done() and permits.promised == 1 and permits.saturated
    now[0] += 10  # the second request was never stored: its place lapses
    assert permits.promised == 0 and not permits.saturated


def test_queue_limit_is_an_agency_setting() -> None:
    """``MPP_AGENCY__<AGENCY>__QUEUE_LIMIT`` sets how many runs may wait for the agency's permits."""
    assert AgencyPolicy.from_settings({"queue_limit": "5", "concurrency": "2"}).queue_limit == 5
    assert AgencyPolicy().queue_limit == 64


async def test_queued_work_for_a_slow_agency_leaves_the_workers_to_other_agencies(tmp_path: Path) -> None:
    """Queued requests for an agency with no free permit occupy no worker: another agency's request still runs."""
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    slow, other = FakeAdapter(), OtherAdapter()
    slow.release.clear()
    registry = Registry()
    registry.add(slow)
    registry.add(other)
    dispatcher = Dispatcher(
        store, registry, owner="test", concurrency=2, lease_seconds=5, sweep_interval=0.05,
        agency_policies={"fake": AgencyPolicy(concurrency=1, queue_limit=1)},
    )  # fmt: skip
    await dispatcher.start()
    try:
        for i in range(5):
            await store.insert(new(f"slow{i}"))
            dispatcher.submit(f"slow{i}")
        await until(lambda: len(slow.calls) == 1 and dispatcher.guards["fake"].permits.waiting == 1)
        await store.insert(new("prompt", "other.thing.lookup"))
        waiter = dispatcher.waiter("prompt")
        dispatcher.submit("prompt")
        await asyncio.wait_for(waiter, 10)
        row = await store.get("prompt")
        assert row is not None and row.status == "completed"
        assert len(slow.calls) == 1  # the slow agency's first call is still unanswered
        held_back = [await store.get(f"slow{i}") for i in range(5)]
        assert all(r is not None and not r.status.final for r in held_back)
        slow.release.set()
    finally:
        await dispatcher.stop(0.5)
        await store.aclose()


@pytest.fixture
def agencies() -> tuple[FakeAdapter, OtherAdapter]:
    slow, other = FakeAdapter(), OtherAdapter()
    slow.release.clear()
    return slow, other


async def client_for(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    agencies: tuple[FakeAdapter, OtherAdapter],
    fake_policy: dict[str, str],
) -> TestClient[Any, Any]:
    slow, other = agencies
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        sqlite_synchronous="NORMAL",
        dispatch_concurrency=4,
        lease_seconds=5,
        shutdown_grace_seconds=1,
        agencies={
            "fake": AgencyConfig(base_url="http://127.0.0.1:9", adapter_settings=fake_policy),
            "other": AgencyConfig(base_url="http://127.0.0.1:9"),
        },
        data_keys=generate_data_key("test"),
    )
    app = build_app(
        settings,
        clients=directory(),
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        factories={"fake": lambda context: slow, "other": lambda context: other},
    )
    return await aiohttp_client(app)


@pytest.fixture
async def stalled(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    agencies: tuple[FakeAdapter, OtherAdapter],
) -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(aiohttp_client, tmp_path, agencies, {"concurrency": "2", "queue_limit": "32"})
    yield client
    agencies[0].release.set()


async def test_waited_lookups_for_a_slow_agency_do_not_hold_up_another_agency(
    stalled: TestClient[Any, Any], agencies: tuple[FakeAdapter, OtherAdapter]
) -> None:
    """With more waited lookups in flight for a slow agency than the process has slots, another agency's lookup
    is answered while every slow one is still unanswered."""
    slow, _ = agencies
    dispatcher = stalled.app[STATE].dispatcher
    posts = [
        asyncio.create_task(stalled.post("/v1/requests", json=envelope(), headers={**AUTH, "Prefer": "wait=30"}))
        for _ in range(10)
    ]
    await until(lambda: len(slow.calls) == 2 and dispatcher.in_flight() + dispatcher.queue_depth() >= 10)
    resp = await stalled.post(
        "/v1/requests", json=envelope("other.thing.lookup"), headers={**AUTH, "Prefer": "wait=10"}
    )
    record = await resp.json()
    assert (resp.status, record["status"]) == (200, "completed")
    assert not any(post.done() for post in posts)
    assert len(slow.calls) == 2
    slow.release.set()
    answers = await asyncio.gather(*posts)
    assert [r.status for r in answers] == [200] * 10


async def test_lookup_for_a_saturated_agency_is_refused_at_once_and_not_stored(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    agencies: tuple[FakeAdapter, OtherAdapter],
) -> None:
    """One permit and a line of one: of five waited lookups sent together two are stored (one calling, one
    waiting) and three get 503 agency-saturated with Retry-After at once, leaving no record; a submission is still
    accepted, and waits in the store."""
    slow, _ = agencies
    client = await client_for(aiohttp_client, tmp_path, agencies, {"concurrency": "1", "queue_limit": "1"})
    dispatcher = client.app[STATE].dispatcher
    try:
        posts = [
            asyncio.create_task(client.post("/v1/requests", json=envelope(), headers={**AUTH, "Prefer": "wait=30"}))
            for _ in range(5)
        ]
        await until(lambda: sum(post.done() for post in posts) == 3)
        refused = [post.result() for post in posts if post.done()]
        stored = [post for post in posts if not post.done()]
        for resp in refused:
            problem = await resp.json()
            assert (resp.status, problem["type"]) == (503, "/problems/agency-saturated")
            assert int(resp.headers["Retry-After"]) >= 1
        assert dispatcher.agency_health("fake")["saturated_refusals"] == 3
        await until(lambda: len(slow.calls) == 1 and dispatcher.in_flight() == 2)
        unfinished, _ = await client.app[STATE].store.queue_stats()
        assert unfinished == 2  # the two in flight; the refused lookups left no record
        submission = await client.post(
            "/v1/requests", json=envelope("fake.thing.submit"), headers={**AUTH, "Idempotency-Key": "sat-1"}
        )
        assert submission.status == 202
        slow.release.set()
        answered = [await post for post in stored]
        assert [r.status for r in answered] == [200, 200]
    finally:
        slow.release.set()
