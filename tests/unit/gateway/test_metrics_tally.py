"""Metrics tallied on the event loop and applied to prometheus_client by a flush: at a scrape, every second, at
shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry, Histogram, multiprocess, values
from prometheus_client.parser import text_string_to_metric_families

from gateway import Settings, build_app
from gateway.telemetry import METRICS_DIR_ENV, Metrics, Telemetry
from tests.fakes import FakeAdapter, directory

SERVICE, AGENCY = "dukcapil.nik.verify", "dukcapil"


def exported(metric: Any, name: str, **labels: str) -> float | None:
    """A sample of the Prometheus metric itself (not read through the registry, whose reading flushes)."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def in_files(folder: Path, name: str, **labels: str) -> float | None:
    """A sample as ``/metrics`` adds it up from the workers' files in ``folder``."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    return registry.get_sample_value(name, labels)


def scraped(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.fixture
def worker_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """prometheus_client in multiprocess mode, as a worker under the supervisor runs it, writing into a folder."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv(METRICS_DIR_ENV, str(folder))
    mode = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # what importing under the variable picks
    monkeypatch.setattr(values, "ValueClass", mode)
    yield folder
    values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]


@pytest.fixture
async def gateway(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
) -> tuple[TestClient[Any, Any], Telemetry]:
    telemetry = Telemetry()
    app = build_app(gateway_settings, clients=directory(), factories={"fake": lambda c: fake_adapter},
                    telemetry=telemetry)  # fmt: skip
    return await aiohttp_client(app), telemetry


def test_an_observation_reaches_prometheus_client_only_when_flushed() -> None:
    """A counter's increment leaves the Prometheus metric as it was until a flush applies it."""
    metrics = Metrics()
    metrics.requests.labels(SERVICE, AGENCY, "completed").inc()
    metrics.flush()
    metrics.requests.labels(SERVICE, AGENCY, "completed").inc(2)
    labels = {"service": SERVICE, "agency": AGENCY, "outcome": "completed"}
    assert exported(metrics.requests.metric, "mpp_requests_total", **labels) == 1
    metrics.flush()
    assert exported(metrics.requests.metric, "mpp_requests_total", **labels) == 3


def test_reading_the_registry_flushes_first() -> None:
    """Whoever reads the metrics' registry (generate_latest, get_sample_value) reads every observation before."""
    metrics = Metrics()
    metrics.retries.labels(AGENCY, SERVICE).inc()
    assert exported(metrics.retries.metric, "mpp_retries_total", agency=AGENCY, service=SERVICE) == 0
    assert metrics.registry.get_sample_value("mpp_retries_total", {"agency": AGENCY, "service": SERVICE}) == 1


def test_a_flushed_histogram_equals_one_observed_directly() -> None:
    """Buckets and count of a tallied histogram after flushes are those of the same observations made directly,
    values on bucket bounds, between them, below the first and past the last; the sum too (up to the rounding of
    adding in another order)."""
    metrics = Metrics()
    direct = Histogram("mpp_agency_call_seconds", "direct", ["agency", "service"],
                       buckets=metrics.agency_seconds.metric._upper_bounds, registry=CollectorRegistry())  # fmt: skip
    amounts = [0.0, 0.001, 0.005, 0.0051, 0.01, 0.02, 0.25, 0.3, 1.0, 9.99, 10.0, 30.0, 31.0, 1e6, 0.003, 0.003]
    amounts += [i * 0.0137 % 3 for i in range(50)]
    for i, amount in enumerate(amounts):
        metrics.agency_seconds.labels(AGENCY, SERVICE).observe(amount)
        direct.labels(AGENCY, SERVICE).observe(amount)
        if i % 5 == 4:
            metrics.flush()
    metrics.agency_seconds.labels("other", SERVICE).observe(0.07)
    direct.labels("other", SERVICE).observe(0.07)
    metrics.flush()

    def samples(histogram: Any) -> list[tuple[str, dict[str, str], object]]:
        return [(s.name, s.labels, pytest.approx(s.value, rel=1e-12) if s.name.endswith("_sum") else s.value)
                for f in histogram.collect() for s in f.samples if not s.name.endswith("_created")]  # fmt: skip

    assert samples(metrics.agency_seconds.metric) == samples(direct)
    assert exported(metrics.agency_seconds.metric, "mpp_agency_call_seconds_count", agency=AGENCY,
                    service=SERVICE) == len(amounts)  # fmt: skip


def test_a_tallied_gauge_takes_the_last_value_set() -> None:
    """A gauge set several times between flushes holds its earlier value until the flush sets the last one."""
    metrics = Metrics()
    metrics.in_flight.labels(AGENCY).set(2)
    metrics.flush()
    metrics.in_flight.labels(AGENCY).set(5)
    metrics.in_flight.labels(AGENCY).set(1)
    assert exported(metrics.in_flight.metric, "mpp_agency_in_flight", agency=AGENCY) == 2
    metrics.flush()
    assert exported(metrics.in_flight.metric, "mpp_agency_in_flight", agency=AGENCY) == 1


def test_wrong_labels_fail_where_they_are_given() -> None:
    """Label values the metric does not take raise at the call, as prometheus_client's own ``labels()`` does."""
    metrics = Metrics()
    with pytest.raises(ValueError, match="label"):
        metrics.agency_seconds.labels(AGENCY)
    with pytest.raises(ValueError, match="non-negative"):
        metrics.retries.labels(AGENCY, SERVICE).inc(-1)


async def test_observations_off_the_event_loop_thread_go_straight_to_prometheus_client() -> None:
    """On another thread than the loop's, an observation is applied at once (nothing there shares the tally)."""
    metrics = Metrics()
    metrics.start(interval=3600)
    try:
        await asyncio.to_thread(lambda: metrics.agency_calls.labels(AGENCY, SERVICE, "completed").inc())
        counted = exported(metrics.agency_calls.metric, "mpp_agency_calls_total", agency=AGENCY, service=SERVICE,
                           outcome="completed")  # fmt: skip
        assert counted == 1
    finally:
        metrics.stop()


async def test_a_scrape_shows_what_was_observed_before_it(gateway: tuple[TestClient[Any, Any], Telemetry]) -> None:
    """GET /metrics shows an observation the periodic flush has not applied yet."""
    client, telemetry = gateway
    telemetry.metrics.agency_seconds.labels(AGENCY, SERVICE).observe(0.003)
    assert exported(telemetry.metrics.agency_seconds.metric, "mpp_agency_call_seconds_count", agency=AGENCY,
                    service=SERVICE) == 0  # fmt: skip
    text = await (await client.get("/metrics")).text()
    assert scraped(text, "mpp_agency_call_seconds_bucket", agency=AGENCY, service=SERVICE, le="0.005") == 1
    assert scraped(text, "mpp_agency_call_seconds_sum", agency=AGENCY, service=SERVICE) == pytest.approx(0.003)


async def test_shutdown_flushes_what_is_left(gateway: tuple[TestClient[Any, Any], Telemetry]) -> None:
    """Stopping the gateway applies the observations no flush has applied yet."""
    client, telemetry = gateway
    telemetry.metrics.journeys.labels("move-house", "completed", "true").inc()
    labels = {"journey": "move-house", "outcome": "completed", "within_visit": "true"}
    assert exported(telemetry.metrics.journeys.metric, "mpp_journeys_total", **labels) == 0
    await client.close()
    assert exported(telemetry.metrics.journeys.metric, "mpp_journeys_total", **labels) == 1


async def test_a_worker_scrape_reads_its_own_observations_from_the_files(
    worker_files: Path, gateway: tuple[TestClient[Any, Any], Telemetry]
) -> None:
    """With several workers, /metrics (read from the workers' files) shows the scraping worker's observation
    made just before, flushed to its file first."""
    client, telemetry = gateway
    telemetry.metrics.requests.labels(SERVICE, AGENCY, "completed").inc()
    labels = {"service": SERVICE, "agency": AGENCY, "outcome": "completed"}
    assert not in_files(worker_files, "mpp_requests_total", **labels)
    text = await (await client.get("/metrics")).text()
    assert scraped(text, "mpp_requests_total", **labels) == 1


async def test_a_worker_flushes_into_its_file_every_second(
    worker_files: Path, gateway: tuple[TestClient[Any, Any], Telemetry]
) -> None:
    """With several workers, a worker's observation reaches the files /metrics reads without a scrape of it: the
    loop's periodic flush writes it."""
    _, telemetry = gateway
    telemetry.metrics.http_requests.labels("/v1/requests", "POST", "200").inc()
    labels = {"route": "/v1/requests", "method": "POST", "status": "200"}
    assert not in_files(worker_files, "mpp_http_requests_total", **labels)
    for _ in range(100):  # about a second; up to ten
        if in_files(worker_files, "mpp_http_requests_total", **labels):
            break
        await asyncio.sleep(0.1)
    assert in_files(worker_files, "mpp_http_requests_total", **labels) == 1


def test_the_tally_belongs_to_the_thread_that_started_it() -> None:
    """Metrics built on one thread and started on the loop's tally the loop thread's observations."""
    metrics = Metrics()
    ready = threading.Event()

    async def on_loop() -> float | None:
        metrics.start(interval=3600)
        metrics.circuit_fast_failures.labels(AGENCY).inc()
        held = exported(metrics.circuit_fast_failures.metric, "mpp_circuit_fast_failures_total", agency=AGENCY)
        metrics.stop()
        ready.set()
        return held

    result: list[float | None] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(on_loop())))
    thread.start()
    thread.join(10)
    assert ready.is_set()
    assert result == [0.0]  # tallied, not yet applied, until stop()
    assert exported(metrics.circuit_fast_failures.metric, "mpp_circuit_fast_failures_total", agency=AGENCY) == 1
