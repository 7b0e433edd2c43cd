"""The operations overview: recent call figures per agency, and ``GET /v1/ops/overview`` for ops clients only."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters import TransientAgencyError
from gateway import Settings, build_app
from gateway.dispatch import AgencyGuard, AgencyPolicy, RecentCalls
from gateway.http import STATE
from tests.fakes import KEY_A, KEY_OPS, NIK, FakeAdapter, directory, envelope
from tests.store.support import new

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
OPS = {"Authorization": f"Bearer {KEY_OPS}"}
COUNTER = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}

AGENCY_FIELDS = {
    "agency", "circuit", "circuit_since", "error_rate", "p50_ms", "p95_ms", "in_flight", "waiting", "rate_limit",
    "quota", "last_failure",
}  # fmt: skip
QUEUE_FIELDS = {"agency", "depth", "oldest_age_seconds", "deferred", "next_try_at"}


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_recent_calls_give_error_rate_and_percentiles_of_the_last_five_minutes() -> None:
    """Error rate, p50 and p95 count the calls of the last five minutes only; older slots drop out."""
    clock = Clock()
    recent = RecentCalls(clock=clock)
    for ms in range(1, 101):  # 1..100 ms, every tenth failed
        recent.record(ms % 10 != 0, float(ms))
    figures = recent.figures()
    assert (figures.calls, figures.failures, figures.error_rate) == (100, 10, 0.1)
    assert (figures.p50_ms, figures.p95_ms) == (50.0, 95.0)
    clock.now += 200
    recent.record(False, 500.0)
    assert recent.figures().calls == 101
    clock.now += 150  # the first hundred are now more than five minutes old
    later = recent.figures()
    assert (later.calls, later.failures, later.error_rate, later.p50_ms, later.p95_ms) == (1, 1, 1.0, 500.0, 500.0)
    clock.now += 400
    empty = recent.figures()
    assert (empty.calls, empty.error_rate, empty.p50_ms, empty.p95_ms) == (0, 0.0, None, None)


def test_recent_calls_keep_bounded_samples_under_any_load() -> None:
    """However many calls a slot gets, it keeps at most its share of durations, and counts every call."""
    clock = Clock()
    recent = RecentCalls(samples_per_slot=64, clock=clock)
    for i in range(20_000):
        recent.record(True, float(i % 100))
        clock.now += 0.001
    slots = list(recent._slots)
    assert sum(s.calls for s in slots) == 20_000
    assert all(len(s.samples) <= 64 for s in slots)
    assert len(slots) <= 30
    figures = recent.figures()
    assert figures.p50_ms is not None and 20 <= figures.p50_ms <= 80  # a fair sample of 0..99


def test_guard_snapshot_has_recent_figures_and_rate_limit_state() -> None:
    """The guard's snapshot carries the last five minutes' error rate and p50/p95, and its rate limit's tokens."""
    clock = Clock()
    guard = AgencyGuard.build("fake", AgencyPolicy(rate_per_second=5, rate_burst=4), clock=clock)
    guard.observe(True, 0.020)
    guard.observe(False, 0.300)
    guard.limiter.delay()
    snapshot = guard.snapshot()
    assert (snapshot["calls_5m"], snapshot["error_rate_5m"]) == (2, 0.5)
    assert (snapshot["p50_ms"], snapshot["p95_ms"]) == (20.0, 300.0)
    assert snapshot["rate_limit"] == {"per_second": 5.0, "burst": 4, "available": 3.0}
    unlimited = AgencyGuard.build("other", AgencyPolicy(), clock=clock).snapshot()
    assert unlimited["rate_limit"] == {}


@pytest.fixture
async def gateway(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> TestClient[Any, Any]:
    app = build_app(gateway_settings, clients=directory(), factories={"fake": lambda context: fake_adapter})
    return await aiohttp_client(app)


async def test_overview_answers_ops_clients_only(gateway: TestClient[Any, Any]) -> None:
    """An ops client gets the overview; a counter client 403 forbidden; no key 401."""
    assert (await gateway.get("/v1/ops/overview", headers=OPS)).status == 200
    counter = await gateway.get("/v1/ops/overview", headers={"Authorization": f"Bearer {KEY_A}"})
    assert counter.status == 403 and (await counter.json())["type"].endswith("/forbidden")
    assert (await gateway.get("/v1/ops/overview")).status == 401


async def test_overview_of_a_quiet_gateway(gateway: TestClient[Any, Any]) -> None:
    """With nothing done yet: every loaded agency closed with no figures, an empty queue row, no failures."""
    body = await (await gateway.get("/v1/ops/overview", headers=OPS)).json()
    assert set(body) == {"generated_at", "agencies", "queue", "failures_last_hour"}
    assert dt.datetime.fromisoformat(body["generated_at"]).tzinfo is not None
    [agency] = body["agencies"]
    assert set(agency) == AGENCY_FIELDS
    assert (agency["agency"], agency["circuit"], agency["circuit_since"], agency["last_failure"]) == (
        "fake", "closed", None, None,
    )  # fmt: skip
    assert (agency["error_rate"], agency["p50_ms"], agency["p95_ms"], agency["quota"]) == (0.0, None, None, None)
    assert body["queue"] == [
        {"agency": "fake", "depth": 0, "oldest_age_seconds": None, "deferred": 0, "next_try_at": None}
    ]
    assert body["failures_last_hour"] == {}


async def test_overview_shows_failures_their_cause_and_the_error_rate(
    gateway: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Failed calls show in the agency's error rate and last failure, and the failed request in the hour's
    failures by problem type."""
    fake_adapter.script = [TransientAgencyError("fake timed out", agency="fake", cause="timeout")] * 5
    record = await (await gateway.post("/v1/requests", json=envelope(), headers=COUNTER)).json()
    assert record["status"] == "failed"
    body = await (await gateway.get("/v1/ops/overview", headers=OPS)).json()
    [agency] = body["agencies"]
    assert agency["error_rate"] == 1.0 and agency["p50_ms"] is not None and agency["p95_ms"] is not None
    assert agency["last_failure"]["cause"] == "timeout"
    assert agency["last_failure"]["problem"] == "agency-unavailable"
    assert body["failures_last_hour"] == {"agency-unavailable": 1}
    assert NIK not in str(body)


async def test_overview_shows_the_queue_with_deferred_requests(gateway: TestClient[Any, Any]) -> None:
    """A deferred request counts in its agency's depth and deferred, with its next try and the oldest's age."""
    store = gateway.app[STATE].store
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    request = new("req_01KAPAAAAAAAAAAAAAAAAAAAAA", kind="submission", created_at=created)
    await store.insert(request, lease=("elsewhere", 30))  # claimed elsewhere: this gateway leaves it alone
    next_try = time.time() + 600
    await store.release("req_01KAPAAAAAAAAAAAAAAAAAAAAA", "elsewhere", not_before=next_try)
    body = await (await gateway.get("/v1/ops/overview", headers=OPS)).json()
    [row] = body["queue"]
    assert set(row) == QUEUE_FIELDS
    assert (row["agency"], row["depth"], row["deferred"]) == ("fake", 1, 1)
    assert 29 <= row["oldest_age_seconds"] <= 60
    assert dt.datetime.fromisoformat(row["next_try_at"]).timestamp() == pytest.approx(next_try, abs=0.01)
