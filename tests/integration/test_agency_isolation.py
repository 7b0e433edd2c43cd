"""A slow Dukcapil does not hold up BPJS Kesehatan lookups, over real sockets against the mocks."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import AgencyConfig, Settings, build_app
from gateway.store import generate_data_key
from mocks import MockCluster, start_mocks
from tests.fakes import KEY_A, consent_given_at, directory
from tests.integration.conftest import verify_body

WAITED = {"Prefer": "wait=60"}


@pytest.fixture
async def two_agencies() -> AsyncIterator[MockCluster]:
    """The Dukcapil and BPJS Kesehatan mocks."""
    async with await start_mocks("127.0.0.1", {"dukcapil": 0, "bpjs-kesehatan": 0}) as running:
        yield running


@pytest.fixture
async def gateway(two_agencies: MockCluster, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with 8 run slots; Dukcapil gets 2 permits and a line of 40, and long call timeouts."""
    overrides = {"dukcapil": {"concurrency": "2", "queue_limit": "40", "timeout": "60", "lookup_call_timeout": "60"}}
    agencies = {
        name: AgencyConfig.from_values({**agency.settings, "timeout": "10", **overrides.get(name, {})})
        for name, agency in two_agencies.agencies.items()
    }
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys=generate_data_key(),
        dispatch_concurrency=8,
        lease_seconds=10,
        shutdown_grace_seconds=1,
        agencies=agencies,
        adapters=tuple(two_agencies.agencies),
    )
    app: web.Application = build_app(settings, clients=directory())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {KEY_A}"}, timeout=90
        ) as client:
            yield client
    finally:
        two_agencies.agencies["dukcapil"].control.faults.reset()
        await server.close()


def membership_body(nik: str) -> dict[str, Any]:
    """A bpjs-kesehatan.peserta.by-nik request from counter app A."""
    return {
        "service": "bpjs-kesehatan.peserta.by-nik",
        "applicant": {"nik": nik},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-04", "operator": "op-3"},
        "consent": {"method": "written", "reference": "F-2026-9", "given_at": consent_given_at()},
        "payload": {"service_date": dt.date.today().isoformat()},
    }


async def test_bpjs_lookup_completes_while_dukcapil_holds_every_call(
    gateway: httpx.AsyncClient, two_agencies: MockCluster
) -> None:
    """With 20 waited Dukcapil lookups in flight and Dukcapil answering none of them, a BPJS Kesehatan lookup
    completes; the Dukcapil ones then finish once it answers again."""
    dukcapil = two_agencies.agencies["dukcapil"].control
    dukcapil.faults.configure({"timeout_rate": 1.0, "timeout_s": 600.0})  # hold every call until released
    citizens = two_agencies.population.sample(status="active", duplicate=False, limit=21)
    bodies = [verify_body(c.nik, full_name=c.full_name) for c in citizens[:20]]
    slow = [asyncio.create_task(gateway.post("/v1/requests", json=body, headers=WAITED)) for body in bodies]
    for _ in range(1000):
        agencies = {a["agency"]: a for a in (await gateway.get("/v1/agencies")).json()["agencies"]}
        if dukcapil.faults.held == 2 and agencies["dukcapil"]["waiting"] == 18:
            break
        await asyncio.sleep(0.01)
    assert dukcapil.faults.held == 2 and agencies["dukcapil"]["waiting"] == 18

    resp = await gateway.post("/v1/requests", json=membership_body(citizens[20].nik), headers=WAITED)

    assert (resp.status_code, resp.json()["status"]) == (200, "completed"), resp.text
    assert not any(task.done() for task in slow)
    assert dukcapil.deliveries.count() == 0  # Dukcapil has answered nothing yet
    dukcapil.faults.reset()  # answers again: the held calls are cut, retried and answered
    answers = await asyncio.gather(*slow)
    assert {r.status_code for r in answers} == {200}
