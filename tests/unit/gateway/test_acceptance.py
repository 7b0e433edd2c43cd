"""gateway.service.Acceptance: the acceptance use case called directly, no HTTP server in between."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters import Registry, TransientAgencyError
from contracts import RequestStatus, ServiceKind
from gateway import BUILTIN_PROBLEMS, ApiProblem, Dispatcher, ProblemCatalog, RetryPolicy, Settings, SqliteStore
from gateway.audit import Auditor
from gateway.service import Acceptance, Submission
from gateway.telemetry import TraceContext
from tests.fakes import FakeAdapter, directory, envelope

TRACE = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", True)
COUNTER_A, COUNTER_B, KIOSK = (directory().clients[c] for c in ("counter-a", "counter-b", "kiosk"))


class World:
    def __init__(self, store: SqliteStore, adapter: FakeAdapter, path: Path) -> None:
        self.store, self.adapter, self.path = store, adapter, path
        registry = Registry()
        registry.add(adapter)
        policy = RetryPolicy(attempts=1, initial_backoff=0.01, max_backoff=0.01, call_timeout=1.0)
        self.dispatcher = Dispatcher(
            store,
            registry,
            owner="test",
            concurrency=2,
            lease_seconds=3,
            sweep_interval=0.05,
            policies={ServiceKind.LOOKUP: policy, ServiceKind.SUBMISSION: policy},
            problems=ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()]),
        )
        self.acceptance = Acceptance(
            settings=Settings(), store=store, registry=registry, dispatcher=self.dispatcher, auditor=Auditor.off()
        )

    async def refused(self, body: Any, *, key: str | None = None, client: Any = COUNTER_A) -> ApiProblem:
        with pytest.raises(ApiProblem) as caught:
            await self.acceptance.accept(client, Submission(body=body, trace=TRACE, idempotency_key=key))
        return caught.value

    def stored_count(self) -> int:
        """Requests in the SQLite file, read beside the store."""
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            return int(db.execute("SELECT count(*) FROM requests").fetchone()[0])


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "a.sqlite3", synchronous="NORMAL")
    await store.open()
    w = World(store, FakeAdapter(), tmp_path / "a.sqlite3")
    await w.dispatcher.start()
    yield w
    await w.dispatcher.stop(0.5)
    await store.aclose()


async def test_a_lookup_waited_for_comes_back_final(world: World) -> None:
    """A lookup accepted with a wait is stored, run, and handed back completed, carrying the caller's trace."""
    accepted = await world.acceptance.accept(COUNTER_A, Submission(body=envelope(), trace=TRACE, wait=5))
    row = accepted.record
    assert (row.status, row.result, row.trace_id) == (RequestStatus.COMPLETED, {"echoed": "hello", "attempt": 1},
                                                      TRACE.trace_id)  # fmt: skip
    assert (accepted.replayed, accepted.waited) == (False, 5)
    assert row.nik_masked is not None and "47089000" not in row.nik_masked
    assert await world.store.get(row.id) is not None


async def test_without_a_wait_the_request_is_durable_before_the_answer(world: World) -> None:
    """Accepted without a wait: the record is in the store when accept returns, whatever its run has reached."""
    world.adapter.release.clear()
    accepted = await world.acceptance.accept(COUNTER_A, Submission(body=envelope(), trace=TRACE))
    assert accepted.waited is None and not accepted.record.status.final
    stored = await world.store.get(accepted.record.id)
    assert stored is not None and stored.service == "fake.thing.lookup"
    world.adapter.release.set()


async def test_the_same_idempotency_key_replays_the_first_request(world: World) -> None:
    """A submission repeated with its key is the same request: replayed, one call to the agency."""
    body = envelope("fake.thing.submit")
    first = await world.acceptance.accept(COUNTER_A, Submission(body=body, trace=TRACE, idempotency_key="k-1", wait=5))
    again = await world.acceptance.accept(COUNTER_A, Submission(body=body, trace=TRACE, idempotency_key="k-1", wait=5))
    assert again.replayed and again.record.id == first.record.id
    assert len(world.adapter.calls) == 1


async def test_a_key_reused_for_a_different_request_is_refused(world: World) -> None:
    """The same key with a different body is refused and names the Idempotency-Key."""
    await world.acceptance.accept(
        COUNTER_A, Submission(body=envelope("fake.thing.submit"), trace=TRACE, idempotency_key="k-2", wait=5)
    )
    changed = envelope("fake.thing.submit", payload={"value": "other"})
    problem = await world.refused(changed, key="k-2")
    assert problem.slug == "idempotency-key-reused"
    assert [e.field for e in problem.errors or []] == ["Idempotency-Key"]


@pytest.mark.parametrize(
    ("body", "key", "client", "slug", "fields"),
    [
        ([1, 2], None, COUNTER_A, "validation-error", ["(body)"]),
        (envelope("fake.nothing.lookup"), None, COUNTER_A, "unknown-service", ["service"]),
        (envelope(payload={"value": ""}), None, COUNTER_A, "validation-error", ["payload.value"]),
        (envelope(applicant={"nik": "123"}), None, COUNTER_A, "validation-error", ["applicant.nik"]),
        (envelope("fake.person.read"), None, KIOSK, "forbidden", []),
        (envelope(), None, COUNTER_B, "forbidden", ["counter.mpp_id"]),
        (envelope("fake.person.read"), None, COUNTER_A, "consent-required", ["consent"]),
        (envelope(callback_url="https://counter.example/hook"), None, COUNTER_A, "validation-error",
         ["callback_url"]),
        (envelope(), "bad key with spaces", COUNTER_A, "validation-error", ["Idempotency-Key"]),
        (envelope("fake.thing.submit"), None, COUNTER_A, "idempotency-key-required", []),
    ],
    ids=["not-an-object", "unknown-service", "payload-field", "envelope-field", "service-not-granted",
         "other-mpp", "no-consent", "callback-without-secret", "malformed-key", "submission-without-key"],
)  # fmt: skip
async def test_a_refused_request_names_the_field_and_stores_nothing(
    world: World, body: Any, key: str | None, client: Any, slug: str, fields: list[str]
) -> None:
    """Each rule refuses with its problem and field, and nothing reaches the store or the agency."""
    problem = await world.refused(body, key=key, client=client)
    assert problem.slug == slug
    assert [e.field for e in problem.errors or []] == fields
    assert world.adapter.calls == []
    assert world.stored_count() == 0


async def test_an_open_circuit_fails_a_lookup_fast_with_retry_after(world: World) -> None:
    """With the agency's circuit open, a lookup is refused at once with Retry-After and counted as a fast failure."""
    world.adapter.script = [TransientAgencyError("503")] * 50
    guard = world.dispatcher.guards["fake"]
    for _ in range(guard.policy.breaker_min_calls):
        guard.breaker.record(False)
    problem = await world.refused(envelope())
    assert problem.slug == "agency-unavailable"
    assert problem.headers is not None and int(problem.headers["Retry-After"]) >= 1
    assert world.dispatcher.agency_health("fake")["fast_failures"] == 1
    assert world.adapter.calls == []


async def test_an_open_circuit_still_accepts_a_submission(world: World) -> None:
    """A submission is not failed fast: it is stored and waits for the agency to come back."""
    world.adapter.release.clear()
    guard = world.dispatcher.guards["fake"]
    for _ in range(guard.policy.breaker_min_calls):
        guard.breaker.record(False)
    accepted = await world.acceptance.accept(
        COUNTER_A, Submission(body=envelope("fake.thing.submit"), trace=TRACE, idempotency_key="k-3")
    )
    assert await world.store.get(accepted.record.id) is not None
    world.adapter.release.set()
    await asyncio.sleep(0)
