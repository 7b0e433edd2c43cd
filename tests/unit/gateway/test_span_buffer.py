"""The span buffer the gateway keeps, and ``GET /v1/traces/{trace_id}`` for ops clients."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import math
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AnyValue

from gateway import Settings, build_app
from gateway.telemetry import SpanBuffer, Telemetry, TelemetrySettings
from tests.fakes import KEY_A, KEY_OPS, NIK, FakeAdapter, directory, envelope

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
OPS = {"Authorization": f"Bearer {KEY_OPS}"}
COUNTER = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}
SPAN_FIELDS = {
    "span_id", "parent_span_id", "name", "kind", "start", "end", "duration_ms", "status", "attributes", "events",
}  # fmt: skip


def spans_of(telemetry: Telemetry, *names: str, trace: bool = True) -> list[str]:
    """End one span per name (each its own trace, or all under the first one), returning their trace ids."""
    ids: list[str] = []
    if trace:
        for name in names:
            with telemetry.tracer.start_as_current_span(name) as span:
                ids.append(format(span.get_span_context().trace_id, "032x"))
        return ids
    with telemetry.tracer.start_as_current_span(names[0]) as root:
        for name in names[1:]:
            with telemetry.tracer.start_as_current_span(name):
                pass
        ids.append(format(root.get_span_context().trace_id, "032x"))
    return ids


def test_buffer_keeps_the_most_recent_spans_and_drops_the_oldest_first() -> None:
    """Past ``max_spans`` the oldest span goes; a trace whose last span went is forgotten (traces <= spans)."""
    telemetry = Telemetry()
    buffer = telemetry.keep_spans(3)
    assert buffer is not None and telemetry.keep_spans(3) is buffer  # one buffer per telemetry
    first, second, third, fourth = spans_of(telemetry, "one", "two", "three", "four")
    assert len(buffer) == 3 and buffer.traces == 3
    assert buffer.trace(first) is None
    assert [s["name"] for s in buffer.trace(fourth) or []] == ["four"]
    [nested] = spans_of(telemetry, "root", "child-a", "child-b", trace=False)
    assert len(buffer) == 3 and buffer.traces == 1
    assert all(buffer.trace(t) is None for t in (second, third, fourth))
    assert {s["name"] for s in buffer.trace(nested) or []} == {"root", "child-a", "child-b"}


def test_one_long_trace_cannot_take_the_whole_buffer() -> None:
    """A trace keeps at most ``max_per_trace`` spans; the rest are counted as dropped, other traces stay."""
    telemetry = Telemetry()
    buffer = SpanBuffer(100, max_per_trace=4)
    telemetry.provider.add_span_processor(buffer)
    [other] = spans_of(telemetry, "other")
    [long] = spans_of(telemetry, "root", *(f"child-{i}" for i in range(9)), trace=False)
    assert len(buffer.trace(long) or []) == 4 and buffer.dropped == 6
    assert buffer.trace(other) is not None


def test_buffer_keeps_only_sampled_spans() -> None:
    """With a sample ratio of 0 nothing is recorded for export, and the buffer keeps nothing either."""
    telemetry = Telemetry(TelemetrySettings(sample_ratio=0.0))
    buffer = telemetry.keep_spans(10)
    [trace_id] = spans_of(telemetry, "unsampled")
    assert buffer is not None and len(buffer) == 0 and buffer.trace(trace_id) is None


def test_buffer_masks_personal_attributes_and_keeps_ids() -> None:
    """Attributes and event attributes are masked like log fields (by the last part of a dotted name); trace,
    span and request ids stay whole."""
    telemetry = Telemetry()
    buffer = telemetry.keep_spans(10)
    assert buffer is not None
    with telemetry.tracer.start_as_current_span("leaky") as span:
        span.set_attribute("mpp.nik", NIK)
        span.set_attribute("mpp.full_name", "Siti Aminah")
        span.set_attribute("note", f"card {NIK} refused")
        span.set_attribute("mpp.request_id", "req_01KAP1234567890123456789AB")
        span.set_attribute("mpp.trace_id", "12345678901234567890123456789012")
        span.set_attribute("mpp.attempt", 2)
        span.add_event("retry", {"nama": "Siti Aminah", "mpp.delay": 0.5})
        trace_id = format(span.get_span_context().trace_id, "032x")
    [kept] = buffer.trace(trace_id) or []
    assert kept["attributes"] == {
        "mpp.nik": "3201**********01",
        "mpp.full_name": "***",
        "note": "card 3201**********01 refused",
        "mpp.request_id": "req_01KAP1234567890123456789AB",
        "mpp.trace_id": "12345678901234567890123456789012",
        "mpp.attempt": 2,
    }
    assert kept["events"][0]["attributes"] == {"nama": "***", "mpp.delay": 0.5}
    assert NIK not in str(kept) and "Siti" not in str(kept)


def test_a_nik_inside_a_sequence_attribute_is_masked() -> None:
    """A sequence attribute (of the span or an event) is shown as a list with each string masked; under a personal
    key the whole sequence is masked."""
    telemetry = Telemetry()
    buffer = telemetry.keep_spans(10)
    assert buffer is not None
    with telemetry.tracer.start_as_current_span("sequences") as span:
        span.set_attribute("mpp.notes", ["ok", f"card {NIK} refused"])
        span.set_attribute("mpp.nik", [NIK, NIK])
        span.set_attribute("mpp.attempts", [1, 2])
        span.add_event("retry", {"mpp.seen": (NIK, "again"), "mpp.flags": (True, False)})
        trace_id = format(span.get_span_context().trace_id, "032x")
    [kept] = buffer.trace(trace_id) or []
    assert kept["attributes"] == {
        "mpp.notes": ["ok", "card 3201**********01 refused"],
        "mpp.nik": "***",
        "mpp.attempts": [1, 2],
    }
    assert kept["events"][0]["attributes"] == {"mpp.seen": ["3201**********01", "again"], "mpp.flags": [True, False]}
    assert NIK not in str(kept)


def test_attribute_values_read_back_as_they_were_set() -> None:
    """Floats, the 64-bit integer range, booleans and unicode come back exactly, and so do values JSON cannot hold
    as they are (bytes, integers past 64 bits, NaN and infinities)."""
    telemetry = Telemetry()
    buffer = telemetry.keep_spans(10)
    assert buffer is not None
    plain: dict[str, AnyValue] = {
        "a.float": 0.1, "a.big": 1e300, "a.negative_zero": -0.0, "a.max": 2**64 - 1, "a.min": -(2**63),
        "a.flag": False, "a.text": "Rp 1.000, lunas ✓ é", "a.empty": "", "a.floats": (0.5, 2.5),
    }  # fmt: skip
    unusual: dict[str, AnyValue] = {"b.bytes": b"\x00raw", "b.huge": 2**70, "b.inf": float("inf"), "b.null": "null"}
    ids = []
    for attributes in (plain, unusual):
        with telemetry.tracer.start_as_current_span("values", attributes=attributes) as span:
            span.add_event("event", attributes)
            ids.append(format(span.get_span_context().trace_id, "032x"))
    with telemetry.tracer.start_as_current_span("nan", attributes={"c.nan": float("nan")}) as span:
        nan_trace = format(span.get_span_context().trace_id, "032x")
    for trace_id, attributes in zip(ids, (plain, unusual), strict=True):
        [kept] = buffer.trace(trace_id) or []
        shown = {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}
        assert kept["attributes"] == shown and kept["events"][0]["attributes"] == shown
        assert [type(v) for v in kept["attributes"].values()] == [type(v) for v in shown.values()]
    assert math.copysign(1, (buffer.trace(ids[0]) or [])[0]["attributes"]["a.negative_zero"]) == -1
    [kept] = buffer.trace(nan_trace) or []
    assert math.isnan(kept["attributes"]["c.nan"])


def test_a_kept_span_takes_a_few_hundred_bytes() -> None:
    """Kept spans of a lookup's shape (a server span with two events, a client span) take under 800 bytes each,
    buffer bookkeeping included, well below the same span as Python objects (about 1.3 KB)."""
    telemetry = Telemetry()
    buffer = SpanBuffer(2000)
    telemetry.provider.add_span_processor(buffer)

    def lookup(i: int) -> None:
        request_id = f"req_01KAP{i:023d}"
        with telemetry.tracer.start_as_current_span("POST /v1/requests", kind=SpanKind.SERVER,
                                                    attributes={"http.request.method": "POST",
                                                                "http.route": "/v1/requests"}) as server:  # fmt: skip
            server.add_event("dispatch", {"mpp.request_id": request_id, "mpp.service": "dukcapil.nik.verify",
                                          "mpp.agency": "dukcapil"})  # fmt: skip
            with telemetry.tracer.start_as_current_span("POST dukcapil", kind=SpanKind.CLIENT, attributes={
                "http.request.method": "POST", "url.full": f"http://dukcapil:8081/api/v1/nik/{i}",
                "mpp.agency": "dukcapil"}) as client:  # fmt: skip
                client.set_attribute("http.response.status_code", 200)
            server.add_event("attempt", {"mpp.agency": "dukcapil", "mpp.attempt": 0, "mpp.outcome": "ok"})
            server.set_attribute("http.response.status_code", 200)

    for i in range(200):  # the tracer's own first allocations are not the buffer's
        lookup(i)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            lookup(i)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(buffer) == 2000
    assert grown / 1600 < 800, grown / 1600  # 400 spans kept before, 2000 after


def test_a_kept_span_has_the_shape_of_the_trace_route() -> None:
    """Ids in hex, ISO times in UTC, duration in ms, kind and status by name, events with their time."""
    telemetry = Telemetry()
    buffer = telemetry.keep_spans(10)
    assert buffer is not None
    [trace_id] = spans_of(telemetry, "root", "child", trace=False)
    spans = buffer.trace(trace_id.upper()) or []
    assert [s["name"] for s in spans] == ["root", "child"]  # by start time
    root, child = spans
    assert set(root) == SPAN_FIELDS
    assert root["parent_span_id"] is None and child["parent_span_id"] == root["span_id"]
    assert len(root["span_id"]) == 16 and root["kind"] == "INTERNAL" and root["status"] == "UNSET"
    start, end = dt.datetime.fromisoformat(root["start"]), dt.datetime.fromisoformat(root["end"])
    assert start.tzinfo == dt.UTC and start <= end
    assert root["duration_ms"] == pytest.approx((end - start).total_seconds() * 1000, abs=0.01)
    assert buffer.trace("not-hex") is None


@pytest.fixture
def traced_app(gateway_settings: Settings, fake_adapter: FakeAdapter) -> Callable[..., web.Application]:
    def make(**settings: Any) -> web.Application:
        return build_app(dataclasses.replace(gateway_settings, **settings), clients=directory(),
                         factories={"fake": lambda context: fake_adapter})  # fmt: skip

    return make


def lineage(spans: list[dict[str, Any]], span: dict[str, Any]) -> list[str]:
    """The names from ``span`` up to its trace's root, following ``parent_span_id`` within the trace."""
    by_id = {s["span_id"]: s for s in spans}
    names = [span["name"]]
    while span["parent_span_id"] is not None:
        span = by_id[span["parent_span_id"]]  # a parent outside the trace fails here
        names.append(span["name"])
    return names


async def test_trace_route_answers_a_requests_spans_with_parent_links(
    aiohttp_client: ClientFactory, traced_app: Callable[..., web.Application]
) -> None:
    """With no exporter configured, a submission's trace id (from its record) gives its server, dispatch and attempt
    spans, each under its parent; ``jaeger_url`` is null without MPP_CONSOLE_JAEGER_URL."""
    gateway = await aiohttp_client(traced_app())
    headers = {**COUNTER, "Idempotency-Key": "trace-route-1"}
    record = await (await gateway.post("/v1/requests", json=envelope("fake.thing.submit"), headers=headers)).json()
    resp = await gateway.get(f"/v1/traces/{record['trace_id']}", headers=OPS)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"trace_id", "spans", "jaeger_url"}
    assert (body["trace_id"], body["jaeger_url"]) == (record["trace_id"], None)
    attempt = next(s for s in body["spans"] if s["name"] == "attempt fake.thing.submit")
    assert lineage(body["spans"], attempt) == ["attempt fake.thing.submit", "dispatch fake.thing.submit",
                                               "POST /v1/requests"]  # fmt: skip
    server = next(s for s in body["spans"] if s["name"] == "POST /v1/requests")
    assert server["kind"] == "SERVER" and server["attributes"]["http.route"] == "/v1/requests"
    dispatch = next(s for s in body["spans"] if s["name"] == "dispatch fake.thing.submit")
    assert dispatch["attributes"]["mpp.request_id"] == record["id"]
    assert NIK not in await resp.text()


async def test_a_lookups_trace_is_rooted_in_its_api_call(
    aiohttp_client: ClientFactory, traced_app: Callable[..., web.Application]
) -> None:
    """Every span of a waited lookup's trace descends, within the trace, from the API call's server span."""
    gateway = await aiohttp_client(traced_app())
    record = await (await gateway.post("/v1/requests", json=envelope(), headers=COUNTER)).json()
    spans = (await (await gateway.get(f"/v1/traces/{record['trace_id']}", headers=OPS)).json())["spans"]
    assert {lineage(spans, s)[-1] for s in spans} == {"POST /v1/requests"}


async def test_trace_route_links_to_jaeger_when_configured(
    aiohttp_client: ClientFactory, traced_app: Callable[..., web.Application]
) -> None:
    """With MPP_CONSOLE_JAEGER_URL set, the answer links to the trace in Jaeger."""
    gateway = await aiohttp_client(traced_app(console_jaeger_url="http://jaeger.example:16686/"))
    record = await (await gateway.post("/v1/requests", json=envelope(), headers=COUNTER)).json()
    body = await (await gateway.get(f"/v1/traces/{record['trace_id']}", headers=OPS)).json()
    assert body["jaeger_url"] == f"http://jaeger.example:16686/trace/{record['trace_id']}"


async def test_trace_route_refuses_unknown_and_malformed_ids_and_non_ops_clients(
    aiohttp_client: ClientFactory, traced_app: Callable[..., web.Application]
) -> None:
    """An unknown trace is a 404 not-found problem, a malformed id a 422 naming path.trace_id, a counter a 403."""
    gateway = await aiohttp_client(traced_app())
    unknown = await gateway.get("/v1/traces/" + "ab" * 16, headers=OPS)
    assert unknown.status == 404 and (await unknown.json())["type"].endswith("/not-found")
    for bad in ("xyz", "0" * 32, "ab" * 17):
        resp = await gateway.get(f"/v1/traces/{bad}", headers=OPS)
        assert resp.status == 422, bad
        problem = await resp.json()
        assert problem["type"].endswith("/validation-error")
        assert [e["field"] for e in problem["errors"]] == ["path.trace_id"]
    assert (await gateway.get("/v1/traces/" + "ab" * 16, headers={"Authorization": f"Bearer {KEY_A}"})).status == 403


async def test_no_buffer_when_turned_off(
    aiohttp_client: ClientFactory, traced_app: Callable[..., web.Application]
) -> None:
    """MPP_TRACE_BUFFER_SPANS=0 keeps no spans: every trace is unknown."""
    gateway = await aiohttp_client(traced_app(trace_buffer_spans=0))
    record = await (await gateway.post("/v1/requests", json=envelope(), headers=COUNTER)).json()
    assert (await gateway.get(f"/v1/traces/{record['trace_id']}", headers=OPS)).status == 404


def test_buffer_size_is_read_from_the_environment() -> None:
    """MPP_TRACE_BUFFER_SPANS and MPP_CONSOLE_JAEGER_URL are settings; by default 10000 spans and no Jaeger link."""
    assert (Settings().trace_buffer_spans, Settings().console_jaeger_url) == (10000, None)
    read = Settings.from_env({"MPP_TRACE_BUFFER_SPANS": "500", "MPP_CONSOLE_JAEGER_URL": "http://j:16686"})
    assert (read.trace_buffer_spans, read.console_jaeger_url) == (500, "http://j:16686")
