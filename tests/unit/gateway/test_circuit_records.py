"""Circuit changes recorded for the service-level report: taken from the breaker with their wall-clock time,
written by the dispatcher's sweeper (never on a request's path), a failed write tried again at the next sweep."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from adapters import Registry
from gateway import Dispatcher, SqliteStore
from gateway.dispatch import AgencyGuard, AgencyPolicy
from gateway.store import CircuitTransition, Rating, ReportQuery, ServiceLevelRow, StoreUnavailable
from tests.fakes import FakeAdapter

POLICY = AgencyPolicy(breaker_min_calls=2, breaker_failure_rate=0.5, breaker_open_seconds=10)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Keeps what the dispatcher records; fails the first ``failures`` writes as a full disk would."""

    def __init__(self, failures: int = 0) -> None:
        self.states: list[CircuitTransition] = []
        self.failures = failures
        self.tries = 0

    async def record_circuit(self, transitions: Sequence[CircuitTransition]) -> None:
        self.tries += 1
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("the database is full")
        self.states.extend(transitions)

    async def save_rating(self, rating: Rating, *, audit: object = None) -> Rating | None:
        raise NotImplementedError

    async def service_levels(self, query: ReportQuery, *, now: dt.datetime | None = None) -> list[ServiceLevelRow]:
        raise NotImplementedError


def test_guard_hands_each_change_once_with_its_wall_clock_time() -> None:
    """Open, half-open (after the cool-down) and closed are taken once each, dated by the wall clock."""
    clock = Clock()
    wall = 1_790_000_000.0
    guard = AgencyGuard.build("fake", POLICY, clock=clock, wall=lambda: wall + (clock.now - 1000.0))
    assert guard.take_transitions() == []
    guard.observe(False, 0.1)
    guard.observe(False, 0.1)  # opens at 1000
    clock.now += 12  # half-open from 1010
    assert guard.take_transitions() == [
        (dt.datetime.fromtimestamp(wall, dt.UTC), "open"),
        (dt.datetime.fromtimestamp(wall + 10, dt.UTC), "half_open"),
    ]
    assert guard.breaker.allow()
    guard.observe(True, 0.1)
    assert guard.take_transitions() == [(dt.datetime.fromtimestamp(wall + 12, dt.UTC), "closed")]
    assert guard.take_transitions() == []
    assert guard.circuit_state() == (dt.datetime.fromtimestamp(wall + 12, dt.UTC), "closed")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.sqlite3", synchronous="NORMAL")
    await s.open()
    yield s
    await s.aclose()


def dispatcher(store: SqliteStore, recorder: Recorder) -> Dispatcher:
    registry = Registry()
    registry.add(FakeAdapter())
    return Dispatcher(
        store, registry, owner="host:1", sweep_interval=0.01, agency_policies={"fake": POLICY}, circuits=recorder
    )


async def until(condition: Callable[[], object], seconds: float = 5.0) -> None:
    """Poll ``condition`` until it holds (the sweeper runs every 10 ms)."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls another task's progress
            await asyncio.sleep(0.01)


async def test_sweeper_records_the_state_at_start_and_every_change(store: SqliteStore) -> None:
    """The first sweep records every agency's state (closed); an opened circuit is recorded by the next sweep."""
    recorder = Recorder()
    d = dispatcher(store, recorder)
    await d.start()
    try:
        await until(lambda: recorder.states)
        assert [(t.agency, t.replica, t.state) for t in recorder.states] == [("fake", "host:1", "closed")]
        d.guards["fake"].observe(False, 0.1)
        d.guards["fake"].observe(False, 0.1)
        await until(lambda: len(recorder.states) == 2)
        opened = recorder.states[1]
        assert (opened.state, opened.replica) == ("open", "host:1")
        assert abs((dt.datetime.now(dt.UTC) - opened.at).total_seconds()) < 5
    finally:
        await d.stop(0.1)


async def test_a_failed_write_is_tried_again_and_loses_nothing(store: SqliteStore) -> None:
    """Writes that fail (the store full) leave the states for the next sweep; none is lost or doubled."""
    recorder = Recorder(failures=2)
    d = dispatcher(store, recorder)
    d.guards["fake"].observe(False, 0.1)
    d.guards["fake"].observe(False, 0.1)
    await d.start()
    try:
        await until(lambda: recorder.states)
    finally:
        await d.stop(0.1)
    assert recorder.tries >= 3
    assert [t.state for t in recorder.states] == ["open", "open"]  # the change, then the state at start


async def test_records_reach_the_store(store: SqliteStore, tmp_path: Path) -> None:
    """With the store as recorder, the replica's state at start is a row of ``circuit_transitions``."""
    registry = Registry()
    registry.add(FakeAdapter())
    d = Dispatcher(store, registry, owner="host:2", sweep_interval=0.01, circuits=store)
    rows: list[tuple[str, str, str]] = []

    def read() -> list[tuple[str, str, str]]:
        with sqlite3.connect(tmp_path / "c.sqlite3") as conn:
            return conn.execute("SELECT agency, replica, state FROM circuit_transitions").fetchall()

    await d.start()
    try:
        async with asyncio.timeout(5):
            while not rows:
                rows = await asyncio.to_thread(read)
                await asyncio.sleep(0.01)
    finally:
        await d.stop(0.1)
    assert rows == [("fake", "host:2", "closed")]
