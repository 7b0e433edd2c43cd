"""The ops routes over real sockets against the Dukcapil mock: a request's trace from the gateway's span buffer,
and an outage in the overview."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from gateway import AgencyConfig, Settings, build_app
from gateway.store import generate_data_key
from mocks import MockCluster
from tests.fakes import KEY_A, KEY_OPS, directory
from tests.integration.conftest import verify_body

WAIT = {"Prefer": "wait=10"}


async def gateway_on(cluster: MockCluster, tmp_path: Path) -> TestServer:
    """A gateway on a loopback socket wired to the mocks; no span exporter configured; circuits open quickly."""
    agencies = {
        name: AgencyConfig.from_values({**mock.settings, "timeout": "2", "breaker_min_calls": "3"})
        for name, mock in cluster.agencies.items()
    }
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"), data_keys=generate_data_key(), dispatch_concurrency=8,
        lease_seconds=10, shutdown_grace_seconds=1, sweep_interval_seconds=0.1, agencies=agencies,
        adapters=tuple(cluster.agencies),
    )  # fmt: skip
    server = TestServer(build_app(settings, clients=directory()), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def clients(cluster: MockCluster, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A counter client and an ops client of one gateway."""
    server = await gateway_on(cluster, tmp_path)
    url = str(server.make_url(""))
    try:
        async with (
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=20) as counter,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY_OPS}"}, timeout=20) as ops,
        ):
            yield counter, ops
    finally:
        await server.close()


async def test_a_requests_trace_id_gives_its_spans_down_to_the_agency_call(
    cluster: MockCluster, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """The trace id of a request's record gives, from the gateway's own buffer, its Dukcapil client span and the
    chain of parents up to the API call's server span; the citizen's NIK, name and birth date are nowhere in it."""
    counter, ops = clients
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    body = verify_body(citizen.nik, full_name=citizen.full_name, birth_date=citizen.birth_date.isoformat())
    record = (await counter.post("/v1/requests", json=body, headers=WAIT)).json()
    assert record["status"] == "completed"
    resp = await ops.get(f"/v1/traces/{record['trace_id']}")
    assert resp.status_code == 200
    spans = resp.json()["spans"]
    by_id = {s["span_id"]: s for s in spans}
    client = next(s for s in spans if s["name"] == "POST dukcapil")
    assert client["kind"] == "CLIENT" and client["attributes"]["mpp.agency"] == "dukcapil"
    assert client["attributes"]["http.response.status_code"] == 200
    chain = [client]
    while chain[-1]["parent_span_id"] is not None:
        chain.append(by_id[chain[-1]["parent_span_id"]])  # every parent is in the trace
    server = chain[-1]
    assert (server["name"], server["kind"]) == ("POST /v1/requests", "SERVER") and len(chain) >= 2
    assert all(parent["start"] <= child["start"] for child, parent in itertools.pairwise(chain))
    for secret in (citizen.nik, citizen.full_name, citizen.birth_date.isoformat()):
        assert secret not in resp.text


async def until(check: Any, seconds: float = 10.0) -> Any:
    """Poll the coroutine function ``check`` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_an_outage_shows_in_the_overview_with_its_cause(
    cluster: MockCluster, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """Dukcapil answering only 503s: the overview shows its circuit open and since when, an error rate of 1, the
    last failure's cause and problem type, and the failed requests of the hour by problem type."""
    counter, ops = clients
    citizens = cluster.population.sample(status="active", duplicate=False, limit=4)
    healthy = (await counter.post("/v1/requests", json=verify_body(citizens[0].nik, full_name=citizens[0].full_name),
                                  headers=WAIT)).json()  # fmt: skip
    assert healthy["status"] == "completed"
    cluster.agencies["dukcapil"].control.faults.configure({"error_rate": 1.0})
    failed = await asyncio.gather(*(
        counter.post("/v1/requests", json=verify_body(c.nik, full_name=c.full_name), headers=WAIT)
        for c in citizens[1:]
    ))  # fmt: skip
    statuses = [r.json().get("status") for r in failed]

    async def open_circuit() -> dict[str, Any] | None:
        overview = (await ops.get("/v1/ops/overview")).json()
        dukcapil = next(a for a in overview["agencies"] if a["agency"] == "dukcapil")
        return overview if dukcapil["circuit"] == "open" else None

    overview = await until(open_circuit)
    dukcapil = next(a for a in overview["agencies"] if a["agency"] == "dukcapil")
    assert dukcapil["circuit_since"] is not None
    assert 0 < dukcapil["error_rate"] < 1  # the healthy call counts too
    assert dukcapil["p50_ms"] is not None and dukcapil["p95_ms"] >= dukcapil["p50_ms"]
    assert dukcapil["last_failure"]["cause"] == "http 503"
    assert dukcapil["last_failure"]["problem"] == "agency-unavailable"
    assert overview["failures_last_hour"] == {"agency-unavailable": statuses.count("failed")} != {}
    for citizen in citizens:
        assert citizen.nik not in str(overview) and citizen.full_name not in str(overview)
