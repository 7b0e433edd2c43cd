"""Causes where operators look, over real sockets against the mock agencies: an outage's log lines, figures and
spans, and a deferred, reconciled submission's record."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from gateway import AgencyConfig, Settings, build_app, configure_logging
from gateway.store import generate_data_key
from gateway.telemetry import Telemetry
from mocks import MockCluster, start_mocks
from mocks.oss import businesses
from tests.fakes import KEY_A, directory
from tests.integration.conftest import verify_body
from tests.integration.test_oss import update

WAIT = {"Prefer": "wait=10"}


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", stream)
    yield stream
    structlog.reset_defaults()


def events(stream: io.StringIO, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [e for e in lines if e.get("event") == name]


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``check`` holds (polled), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def gateway_for(
    cluster: MockCluster, tmp_path: Path, telemetry: Telemetry, agency: dict[str, str]
) -> TestServer:
    """A gateway on a real socket wired to the mocks, with fast sweeps and the agency settings given."""
    agencies = {
        name: AgencyConfig.from_values({**mock.settings, "timeout": "2", **agency})
        for name, mock in cluster.agencies.items()
    }
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"), data_keys=generate_data_key(), dispatch_concurrency=8,
        lease_seconds=10, shutdown_grace_seconds=1, sweep_interval_seconds=0.1, agencies=agencies,
        adapters=tuple(cluster.agencies),
    )  # fmt: skip
    server = TestServer(build_app(settings, clients=directory(), telemetry=telemetry), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def traced() -> AsyncIterator[tuple[Telemetry, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry(exporter=exporter)
    yield telemetry, exporter
    telemetry.shutdown()


async def test_an_outage_is_explained_in_logs_figures_and_spans(
    cluster: MockCluster, tmp_path: Path, log_stream: io.StringIO, traced: tuple[Telemetry, InMemorySpanExporter]
) -> None:
    """Dukcapil answers only 503s: the failed request is logged at warning with its problem type, the circuit opens
    with agency.unavailable naming "http 503", /v1/agencies shows the last failure and since when, the fast-failed
    lookup logs service and agency; the spans of the failed request are ERROR. Once Dukcapil heals, agency.probing
    comes first and agency.available only after a probe succeeded."""
    telemetry, exporter = traced
    control = cluster.agencies["dukcapil"].control
    breaker = {"breaker_min_calls": "3", "breaker_open_seconds": "1", "breaker_probes": "1"}
    server = await gateway_for(cluster, tmp_path, telemetry, breaker)
    citizen = cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    body = verify_body(citizen.nik, full_name=citizen.full_name)
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=20,
                                     headers={"Authorization": f"Bearer {KEY_A}"}) as http:  # fmt: skip
            control.faults.configure({"error_rate": 1.0})
            record = (await http.post("/v1/requests", json=body, headers=WAIT)).json()
            assert record["status"] == "failed"
            assert record["problem"]["detail"].startswith("dukcapil answered HTTP 503")
            finished = events(log_stream, "request.finished")[-1]
            assert (finished["level"], finished["problem"]) == ("warning", "agency-unavailable")
            await until(lambda: bool(events(log_stream, "agency.unavailable")))
            unavailable = events(log_stream, "agency.unavailable")[0]
            assert unavailable["agency"] == "dukcapil" and unavailable["causes"] == {"http 503": 3}
            agencies = (await http.get("/v1/agencies")).json()["agencies"]
            dukcapil = next(a for a in agencies if a["agency"] == "dukcapil")
            assert dukcapil["circuit"] == "open" and dukcapil["circuit_since"] is not None
            assert dukcapil["last_failure"]["cause"] == "http 503"
            assert dukcapil["last_failure"]["problem"] == "agency-unavailable"
            refused = await http.post("/v1/requests", json=body, headers=WAIT)
            if refused.status_code == 503:  # still open (the cool-down is one second)
                line = events(log_stream, "request.refused")[-1]
                assert (line["service"], line["agency"]) == ("dukcapil.nik.verify", "dukcapil")
                assert refused.json()["trace_id"] == line["trace_id"]
            control.reset()
            await until(lambda: bool(events(log_stream, "agency.probing")))
            assert events(log_stream, "agency.available") == []
            record = (await http.post("/v1/requests", json=body, headers=WAIT)).json()
            assert record["status"] == "completed"
            await until(lambda: bool(events(log_stream, "agency.available")))
            assert events(log_stream, "agency.recovering") == []
    finally:
        await server.close()
    telemetry.provider.force_flush()
    spans = exporter.get_finished_spans()
    # A lookup answered within its call has no dispatch span: its API call's server span carries its status.
    calls = [s for s in spans if s.name == "POST /v1/requests"]
    assert (calls[0].status.status_code, calls[0].status.description) == (StatusCode.ERROR, "agency-unavailable")
    assert calls[-1].status.status_code is StatusCode.UNSET
    client = [s for s in spans if s.name == "POST dukcapil"]
    assert [(s.status.status_code, s.status.description) for s in client[:3]] == [(StatusCode.ERROR, "http 503")] * 3
    assert client[-1].status.status_code is StatusCode.UNSET


@pytest.fixture
async def oss_cluster() -> AsyncIterator[MockCluster]:
    """The OSS mock on a free loopback port."""
    async with await start_mocks("127.0.0.1", {"oss": 0}) as running:
        yield running


async def test_a_deferred_and_reconciled_submission_shows_every_step_in_its_record(
    oss_cluster: MockCluster, tmp_path: Path, traced: tuple[Telemetry, InMemorySpanExporter]
) -> None:
    """The update lands at OSS but the connection drops: the submission is deferred, then OSS is asked and has it.
    GET /v1/requests/{id} shows the ambiguous call, the deferral and the reconcile call; OSS got it once."""
    telemetry, _ = traced
    oss = oss_cluster.agencies["oss"]
    business = next(b for b in businesses(oss_cluster.population) if b.permits)
    server = await gateway_for(oss_cluster, tmp_path, telemetry, {"submission_attempts": "1",
                                                                  "submission_defer": "2"})  # fmt: skip
    body: dict[str, Any] = {
        "service": "oss.license.status-update",
        "applicant": {"nik": business.owner.nik},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-05", "operator": "op-3"},
        "payload": update(business, "50").model_dump(mode="json"),
    }
    headers = {"Authorization": f"Bearer {KEY_A}", "Idempotency-Key": "ops-causes-deferred-1"}
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url("")), headers=headers, timeout=20) as http:
            oss.control.faults.configure({"reset_rate": 1.0, "drop_after_processing": True})
            first = (await http.post("/v1/requests", json=body, headers=WAIT)).json()
            assert first["status"] == "accepted", first  # deferred: back in the queue
            oss.control.faults.reset()
            request_id = first["id"]
            record: dict[str, Any] = {}
            for _ in range(200):
                record = (await http.get(f"/v1/requests/{request_id}")).json()
                if record["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
            assert record["status"] == "completed", record
    finally:
        await server.close()
    steps = [(a["number"], a["outcome"]) for a in record["attempts"]]
    assert steps == [(1, "ambiguous"), (2, "deferred"), (3, "reconciled")]
    deferral, reconciled = record["attempts"][1]["detail"], record["attempts"][2]["detail"]
    assert deferral.startswith("oss ") and "tried again in 2 s" in deferral
    assert reconciled == "oss already had the submission"
    assert oss.control.deliveries.count(reference=request_id) == 1
