"""Journeys on PostgreSQL with two replicas (two gateways on one database, the fake agency): both advance the same
journeys at once, both sweep, and still every step runs once and every journey ends, visible from either."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from contracts import JourneyRequest
from gateway import Settings, build_app
from gateway.http import JOURNEYS
from gateway.journeys import Journeys
from tests.fakes import NIK, FakeAdapter, directory

DEFINITION = """
id: test.chain
title: {id: Rantai uji, en: Test chain}
visit_budget_seconds: 60
payload_schema: {type: object, properties: {value: {type: string}}}
steps:
  - name: first
    service: fake.thing.lookup
    payload: {value: "${journey.payload.value}"}
  - name: beside
    service: fake.thing.submit
    payload: {value: "beside"}
  - name: second
    service: fake.thing.submit
    payload: {value: "${steps.first.result.echoed}"}
result:
  second: "${steps.second.result.echoed}"
"""
JOURNEYS_STARTED = 12


@pytest.fixture
async def replicas(
    gateway_settings: Settings, pg_database: str, tmp_path: Path
) -> AsyncIterator[tuple[list[Journeys], list[FakeAdapter]]]:
    """Two gateways on one PostgreSQL database, each sweeping the other's journeys at once."""
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "chain.yaml").write_text(DEFINITION, encoding="utf-8")
    settings = dataclasses.replace(
        gateway_settings, store_dsn=pg_database, journeys_dir=str(folder), sweep_interval_seconds=0.05,
        store_handover_seconds=0.0,
    )  # fmt: skip
    clients: list[TestClient[Any, Any]] = []
    adapters = [FakeAdapter(), FakeAdapter()]
    for n, adapter in enumerate(adapters):
        factory: Callable[[Any], FakeAdapter] = lambda context, adapter=adapter: adapter  # noqa: E731
        app: web.Application = build_app(
            settings, clients=directory(), transport=httpx.MockTransport(lambda r: httpx.Response(599)),
            factories={"fake": factory}, owner=f"replica-{n}",
        )  # fmt: skip
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
    services = [c.app[JOURNEYS] for c in clients]
    assert all(isinstance(s, Journeys) for s in services)
    try:
        yield [s for s in services if isinstance(s, Journeys)], adapters
    finally:
        for client in clients:
            await client.close()


async def test_two_replicas_advancing_the_same_journeys_run_each_step_once(
    replicas: tuple[list[Journeys], list[FakeAdapter]], pg_database: str
) -> None:
    """Journeys started on one replica while both advance them: every journey completes, every step has one
    request, every agency call is made once, and either replica reads the same record."""
    (one, two), adapters = replicas
    client = directory().clients["counter-a"]
    started = []
    for n in range(JOURNEYS_STARTED):
        body = JourneyRequest.model_validate({
            "journey": "test.chain", "applicant": {"nik": NIK},
            "counter": {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-7"}, "payload": {"value": f"v{n}"},
        })  # fmt: skip
        record = await one.start(client, body, idempotency_key=None, traceparent=None)
        started.append(record.id)
        # The other replica advances the same journey at the same moment, as its sweeper would.
        await asyncio.gather(two.engine.advance(record.id), one.engine.advance(record.id))
    for journey_id in started:
        done = await two.wait(client, journey_id, 20)
        assert done is not None and done.status == "completed", done
        assert done.result == {"second": f"v{started.index(journey_id)}"}
        assert await one.get(client, journey_id) == await two.get(client, journey_id)
    conn = await asyncpg.connect(pg_database)
    try:
        per_step = await conn.fetch(
            "SELECT s.journey_id, s.name, count(r.id) FROM journey_steps s JOIN requests r ON r.id = s.request_id "
            "GROUP BY 1, 2"
        )
        requests = await conn.fetchval("SELECT count(*) FROM requests")
    finally:
        await conn.close()
    assert len(per_step) == 3 * JOURNEYS_STARTED and all(row[2] == 1 for row in per_step)
    assert requests == 3 * JOURNEYS_STARTED
    calls = [call.reference for adapter in adapters for call in adapter.calls]
    assert len(calls) == len(set(calls)) == 3 * JOURNEYS_STARTED
