"""A real adapter behind the real dispatcher, for the tests that pin what a run makes of an adapter's error.

The adapter's HTTP is the test's (respx through an injected transport); the store is SQLite in a temporary folder;
sleeps are recorded, not waited. :meth:`AdapterRun.run` inserts one request, waits for its verdict and returns the
stored row, so a test asserts the problem, the attempts and the agency calls together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters import Adapter, Registry
from contracts import ServiceKind
from gateway import BUILTIN_PROBLEMS, Dispatcher, NewRequest, ProblemCatalog, RetryPolicy, SqliteStore
from gateway.store import StoredRequest

__all__ = ["AdapterRun", "adapter_run"]


class AdapterRun:
    """One dispatcher over one adapter; :meth:`run` sends a request through it."""

    def __init__(self, store: SqliteStore, adapter: Adapter) -> None:
        self.store = store
        self.sleeps: list[float] = []
        registry = Registry()
        registry.add(adapter)
        self._registry = registry

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        policy = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05, call_timeout=5.0, defer=30.0)
        self.dispatcher = Dispatcher(
            store,
            registry,
            owner="test",
            concurrency=2,
            lease_seconds=30,
            sweep_interval=0.05,
            policies={ServiceKind.LOOKUP: policy, ServiceKind.SUBMISSION: policy},
            sleep=sleep,
            problems=ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()]),
        )

    def metric(self, name: str, labels: dict[str, str]) -> float:
        """The current value of a sample of the dispatcher's metrics (0 when never set)."""
        return self.dispatcher.telemetry.metrics.registry.get_sample_value(name, labels) or 0.0

    async def run(self, request_id: str, service: str, nik: str, payload: dict[str, Any]) -> StoredRequest:
        """Insert a request for ``service`` and wait for its run to end; the stored row."""
        _, entry = self._registry.services[service]
        await self.store.insert(
            NewRequest(
                id=request_id,
                client_id="counter-a",
                service=service,
                agency=entry.agency,
                kind=entry.kind,
                mpp_id="mpp-a",
                desk="d",
                operator="o",
                nik_masked=nik[:4] + "*" * 10 + nik[-2:],
                envelope={"applicant": {"nik": nik}, "payload": payload},
                trace_id=None,
                traceparent=None,
                created_at=dt.datetime.now(dt.UTC),
                deadline_at=time.time() + 60,
            )
        )
        waiter = self.dispatcher.waiter(request_id)
        self.dispatcher.submit(request_id)
        await asyncio.wait_for(waiter, 10)
        row = await self.store.get(request_id)
        assert row is not None
        return row


@asynccontextmanager
async def adapter_run(tmp_path: Path, adapter: Adapter) -> AsyncIterator[AdapterRun]:
    """An :class:`AdapterRun` over ``adapter``, started, and stopped afterwards."""
    store = SqliteStore(tmp_path / "run.sqlite3", synchronous="NORMAL")
    await store.open()
    run = AdapterRun(store, adapter)
    await run.dispatcher.start()
    try:
        yield run
    finally:
        await run.dispatcher.stop(0.5)
        await store.aclose()
