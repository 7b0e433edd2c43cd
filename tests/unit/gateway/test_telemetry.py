"""Traces and metrics of the gateway, captured in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from adapters import TransientAgencyError
from gateway import Settings, build_app
from gateway.telemetry import EXPORT_BATCH_SPANS, Telemetry
from tests.fakes import KEY_A, NIK, FakeAdapter, directory, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}


@pytest.fixture
async def traced(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
) -> tuple[TestClient[Any, Any], InMemorySpanExporter, Telemetry]:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry(exporter=exporter)
    app = build_app(gateway_settings, clients=directory(), factories={"fake": lambda c: fake_adapter},
                    telemetry=telemetry)  # fmt: skip
    return await aiohttp_client(app), exporter, telemetry


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_one_request_is_one_trace_from_server_span_to_attempt(
    traced: tuple[TestClient[Any, Any], InMemorySpanExporter, Telemetry],
) -> None:
    """The API call, its dispatch and its attempt share one trace, rooted in the counter's traceparent; a waited
    lookup answered within its wait is one server span, its dispatch and attempt events of it."""
    client, exporter, telemetry = traced
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**AUTH, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    record = await (await client.post("/v1/requests", json=envelope(), headers=headers)).json()
    telemetry.provider.force_flush()
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["POST /v1/requests"]  # the fake adapter makes no HTTP call of its own
    assert {format(s.context.trace_id, "032x") for s in spans} == {trace_id}
    assert record["trace_id"] == trace_id
    server = spans[0]
    assert server.parent is not None and server.parent.span_id == 0x00F067AA0BA902B7
    dispatch, attempt = server.events
    assert (dispatch.name, attempt.name) == ("dispatch", "attempt")
    assert dispatch.attributes is not None and dispatch.attributes["mpp.request_id"] == record["id"]
    assert attempt.attributes is not None and attempt.attributes["mpp.outcome"] == "completed"


async def test_a_run_outside_its_api_call_keeps_its_dispatch_and_attempt_spans(
    traced: tuple[TestClient[Any, Any], InMemorySpanExporter, Telemetry],
) -> None:
    """A request nobody waits for (answered 202, run after) is traced with spans of its own: server, dispatch,
    attempt."""
    client, exporter, telemetry = traced
    resp = await client.post("/v1/requests", json=envelope(), headers={"Authorization": AUTH["Authorization"]})
    assert resp.status == 202
    for _ in range(200):
        telemetry.provider.force_flush()
        by_name = {s.name: s for s in exporter.get_finished_spans()}
        if "dispatch fake.thing.lookup" in by_name:
            break
        await asyncio.sleep(0.01)
    server, dispatch, attempt = (by_name[n] for n in ("POST /v1/requests", "dispatch fake.thing.lookup",
                                                       "attempt fake.thing.lookup"))  # fmt: skip
    assert dispatch.parent is not None and dispatch.parent.span_id == server.context.span_id
    assert attempt.parent is not None and attempt.parent.span_id == dispatch.context.span_id


async def test_retries_are_span_events_and_attempts_are_spans(
    traced: tuple[TestClient[Any, Any], InMemorySpanExporter, Telemetry], fake_adapter: FakeAdapter
) -> None:
    """A retried call shows one attempt span per try and a retry event on the span that runs it (a waited
    lookup's: the call's server span)."""
    client, exporter, telemetry = traced
    fake_adapter.script = [TransientAgencyError("503")]
    await client.post("/v1/requests", json=envelope(), headers=AUTH)
    telemetry.provider.force_flush()
    spans = exporter.get_finished_spans()
    attempts = [s for s in spans if s.name.startswith("attempt ")]
    assert [s.attributes["mpp.outcome"] for s in attempts if s.attributes] == ["transient", "completed"]
    server = next(s for s in spans if s.name == "POST /v1/requests")
    assert [e.name for e in server.events] == ["dispatch", "retry"]


async def test_no_personal_data_in_span_attributes(
    traced: tuple[TestClient[Any, Any], InMemorySpanExporter, Telemetry],
) -> None:
    """No span attribute or event carries the applicant's NIK or payload values."""
    client, exporter, telemetry = traced
    await client.post("/v1/requests", json=envelope(payload={"value": "SITI AMINAH"}), headers=AUTH)
    telemetry.provider.force_flush()
    for span in exporter.get_finished_spans():
        text = repr(dict(span.attributes or {})) + repr([dict(e.attributes or {}) for e in span.events])
        assert NIK not in text and "SITI AMINAH" not in text


async def test_metrics_parse_and_move_with_traffic(
    traced: tuple[TestClient[Any, Any], InMemorySpanExporter, Telemetry], fake_adapter: FakeAdapter
) -> None:
    """/metrics is valid Prometheus text whose counters and histograms move as requests flow."""
    client, _, _ = traced
    before = await (await client.get("/metrics")).text()
    assert metric(before, "mpp_requests_total", service="fake.thing.lookup", outcome="completed") == 0
    fake_adapter.script = [TransientAgencyError("503")]
    for _ in range(3):
        await client.post("/v1/requests", json=envelope(), headers=AUTH)
    text = await (await client.get("/metrics")).text()
    assert metric(text, "mpp_requests_total", service="fake.thing.lookup", agency="fake", outcome="completed") == 3
    assert metric(text, "mpp_retries_total", agency="fake") == 1
    assert metric(text, "mpp_agency_calls_total", agency="fake", outcome="transient") == 1
    assert metric(text, "mpp_agency_call_seconds_count", agency="fake") == 4
    assert metric(text, "mpp_http_requests_total", route="/v1/requests", method="POST", status="200") == 3
    assert metric(text, "mpp_circuit_state", agency="fake") == 0
    assert NIK not in text


class _Batches(InMemorySpanExporter):
    """Records the size of every export call."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.sizes.append(len(spans))
        return super().export(spans)


def _export_sizes(count: int) -> list[int]:
    exporter = _Batches()
    telemetry = Telemetry(exporter=exporter)
    for n in range(count):
        with telemetry.tracer.start_as_current_span(f"span {n}"):
            pass
    telemetry.shutdown()
    assert sum(exporter.sizes) == count
    return exporter.sizes


def test_spans_are_exported_in_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans leave in OTLP batches of at most 64 (not the SDK's 512), so no one export holds the GIL for long."""
    monkeypatch.delenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", raising=False)
    sizes = _export_sizes(600)
    assert max(sizes) == EXPORT_BATCH_SPANS <= 64


def test_the_standard_variable_sets_the_export_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_BSP_MAX_EXPORT_BATCH_SIZE, when set, decides the batch size instead of the gateway's default."""
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    assert max(_export_sizes(50)) == 10
