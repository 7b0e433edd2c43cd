"""Causes where operators look: the circuit's log lines and figures, failed requests' log level and problem type,
deferrals and reconcile calls in the record, span status, problem details naming the agency, metrics, and trace ids
that are never masked."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from adapters import AgencyHttp, AgencyRejected, Completed, Registry, TransientAgencyError
from contracts import ServiceKind
from gateway import (
    BUILTIN_PROBLEMS,
    Dispatcher,
    ProblemCatalog,
    RetryPolicy,
    Settings,
    SqliteStore,
    build_app,
    configure_logging,
    redact,
    redact_mapping,
)
from gateway.dispatch import AgencyGuard, AgencyPolicy, CircuitBreaker, RetryBudget
from gateway.http import STATE, TELEMETRY
from gateway.telemetry import Telemetry, TelemetrySettings
from tests.fakes import KEY_A, NIK, FakeAdapter, ThingResult, directory, envelope
from tests.unit.gateway.test_dispatch import new, submission

AUTH = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", stream)
    yield stream
    structlog.reset_defaults()


def events(stream: io.StringIO, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [e for e in lines if e.get("event") == name]


class Ops:
    """A dispatcher over the fake adapter with a small breaker, fast sweeps, recorded sleeps and in-memory spans."""

    def __init__(self, store: SqliteStore, adapter: FakeAdapter) -> None:
        self.store = store
        self.adapter = adapter
        self.exporter = InMemorySpanExporter()
        self.telemetry = Telemetry(exporter=self.exporter)
        registry = Registry()
        registry.add(adapter)

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(0)

        policy = RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=1.0, call_timeout=0.3, defer=30.0)
        self.dispatcher = Dispatcher(
            store, registry, owner="test", concurrency=2, lease_seconds=3, sweep_interval=0.02,
            policies={ServiceKind.LOOKUP: policy, ServiceKind.SUBMISSION: policy}, sleep=sleep,
            agency_policies={"fake": AgencyPolicy(breaker_open_seconds=5.0, breaker_probes=1)},
            problems=ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()]), telemetry=self.telemetry,
        )  # fmt: skip
        self.clock = Clock()
        guard = self.dispatcher.guards["fake"]
        guard.breaker = CircuitBreaker(guard.policy, self.clock)
        guard.clock = self.clock

    def trip_after(self, calls: int) -> None:
        """A breaker that opens after ``calls`` failed calls (on the test's clock)."""
        guard = self.dispatcher.guards["fake"]
        policy = AgencyPolicy(breaker_min_calls=calls, breaker_open_seconds=5.0, breaker_probes=1)
        guard.breaker = CircuitBreaker(policy, self.clock)

    def open_circuit(self) -> None:
        """Open the agency's circuit as failed calls would."""
        self.trip_after(2)
        breaker = self.dispatcher.guards["fake"].breaker
        breaker.record(False)
        breaker.record(False)

    async def run(self, request: Any) -> Any:
        await self.store.insert(request)
        waiter = self.dispatcher.waiter(request.id)
        self.dispatcher.submit(request.id)
        await asyncio.wait_for(waiter, 5)
        row = await self.store.get(request.id)
        assert row is not None
        return row


@pytest.fixture
async def ops(tmp_path: Path) -> AsyncIterator[Ops]:
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    o = Ops(store, FakeAdapter())
    await o.dispatcher.start()
    yield o
    await o.dispatcher.stop(0.5)
    await store.aclose()


async def until(check: Callable[[], Awaitable[bool] | bool], seconds: float = 5.0) -> None:
    """Wait until ``check`` holds (polled), failing after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


# --- the guard's record of failures --------------------------------------------------------------------------------


def test_guard_keeps_a_bounded_record_and_names_the_last_distinct_causes() -> None:
    """The guard keeps the last 50 failures; causes() gives the last three distinct causes, newest first, counted."""
    guard = AgencyGuard.build("dukcapil", AgencyPolicy())
    for _ in range(40):
        guard.failed("transient", "http 503", "agency-unavailable")
    for cause in ("connection reset", "timeout", "timeout", "http 502"):
        guard.failed("transient", cause, "agency-unavailable")
    for _ in range(10):
        guard.failed("transient", "timeout", "agency-unavailable")
    assert len(guard.recent_failures) == 50
    assert guard.causes() == {"timeout": 12, "http 502": 1, "connection reset": 1}
    assert guard.causes(limit=4) == {"timeout": 12, "http 502": 1, "connection reset": 1, "http 503": 36}


def test_causes_can_be_limited_to_a_recent_window() -> None:
    """causes(within=s) counts only the failures of the last s seconds (the log uses the breaker's window)."""
    wall = [1_800_000_000.0]
    guard = AgencyGuard.build("bpjs-kesehatan", AgencyPolicy(), wall=lambda: wall[0])
    guard.failed("transient", "http 502", "agency-unavailable")
    wall[0] += 3600
    guard.failed("transient", "timeout", "agency-unavailable")
    guard.failed("transient", "timeout", "agency-unavailable")
    assert guard.causes(within=30) == {"timeout": 2}
    assert guard.causes() == {"timeout": 2, "http 502": 1}


def test_snapshot_names_the_last_failure_and_since_when_the_circuit_is_in_its_state() -> None:
    """snapshot() has last_failure {at, cause, problem} and circuit_since: null while closed from the start."""
    clock = Clock()
    wall = [1_800_000_000.0]
    guard = AgencyGuard.build("dukcapil", AgencyPolicy(breaker_min_calls=2, breaker_open_seconds=15.0), clock,
                              lambda: wall[0])  # fmt: skip
    assert guard.snapshot()["circuit_since"] is None and guard.snapshot()["last_failure"] is None
    guard.failed("transient", "timeout", "agency-unavailable")
    guard.observe(False, 0.1)
    guard.observe(False, 0.1)
    clock.now += 4
    wall[0] += 4
    snapshot = guard.snapshot()
    assert snapshot["circuit"] == "open"
    opened = dt.datetime.fromtimestamp(1_800_000_000.0, dt.UTC)
    assert snapshot["circuit_since"] == opened.isoformat()
    assert snapshot["last_failure"] == {"at": opened.isoformat(), "cause": "timeout", "problem": "agency-unavailable"}
    clock.now += 11
    wall[0] += 11
    probing = guard.snapshot()
    assert probing["circuit"] == "half_open"
    assert probing["circuit_since"] == (opened + dt.timedelta(seconds=15)).isoformat()


# --- circuit log lines ---------------------------------------------------------------------------------------------


async def test_unavailable_names_causes_then_probing_until_a_probe_succeeds(
    ops: Ops, log_stream: io.StringIO
) -> None:
    """agency.unavailable names the causes with counts and the problem; agency.probing while half-open, also after a
    failed probe; agency.available only once a probe succeeded. No agency.recovering."""
    ops.trip_after(3)
    ops.adapter.script = [
        TransientAgencyError("fake answered HTTP 503", agency="fake", cause="http 503"),
        TransientAgencyError("fake did not answer in time", agency="fake", cause="timeout"),
        TransientAgencyError("fake did not answer in time", agency="fake", cause="timeout"),
    ]
    await ops.run(new("l1"))
    await until(lambda: bool(events(log_stream, "agency.unavailable")))
    unavailable = events(log_stream, "agency.unavailable")[0]
    assert unavailable["level"] == "warning" and unavailable["agency"] == "fake"
    assert unavailable["causes"] == {"timeout": 2, "http 503": 1}
    assert unavailable["problem"] == "agency-unavailable"
    ops.clock.now += 5  # the cool-down passes: half-open
    await until(lambda: bool(events(log_stream, "agency.probing")))
    ops.adapter.script = [TransientAgencyError("fake connection broke", agency="fake", cause="connection reset")]
    await ops.run(new("l2"))  # the probe fails: open again, then probing again
    await until(lambda: len(events(log_stream, "agency.unavailable")) == 2)
    ops.clock.now += 5
    await until(lambda: len(events(log_stream, "agency.probing")) == 2)
    assert events(log_stream, "agency.unavailable")[1]["causes"] == {"connection reset": 1, "timeout": 2,
                                                                     "http 503": 1}  # fmt: skip
    assert events(log_stream, "agency.available") == []
    await ops.run(new("l3"))  # the probe succeeds
    await until(lambda: bool(events(log_stream, "agency.available")))
    assert events(log_stream, "agency.recovering") == []
    names = [e["event"] for e in json_lines(log_stream) if str(e.get("event", "")).startswith("agency.")]
    assert names == ["agency.unavailable", "agency.probing", "agency.unavailable", "agency.probing",
                     "agency.available"]  # fmt: skip


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- request.finished ----------------------------------------------------------------------------------------------


async def test_failed_request_is_logged_at_warning_with_its_problem_type(ops: Ops, log_stream: io.StringIO) -> None:
    """A failed request's request.finished is a warning naming its problem type; a rejection is info, also named; a
    completed one is debug (its call's access line is the one line at info)."""
    ops.adapter.script = [TransientAgencyError("503")] * 3
    await ops.run(new("l1"))
    failed = events(log_stream, "request.finished")[-1]
    assert (failed["level"], failed["status"], failed["problem"]) == ("warning", "failed", "agency-unavailable")
    ops.adapter.script = [AgencyRejected("no such thing", agency="fake", slug="thing-not-found")]
    await ops.run(new("l2"))
    rejected = events(log_stream, "request.finished")[-1]
    assert (rejected["level"], rejected["status"], rejected["problem"]) == ("info", "rejected", "thing-not-found")
    await ops.run(new("l3"))
    completed = events(log_stream, "request.finished")[-1]
    assert completed["level"] == "debug" and "problem" not in completed


# --- deferrals and reconcile calls in the record -------------------------------------------------------------------


async def test_a_deferral_is_an_entry_of_the_record_naming_the_agency(ops: Ops) -> None:
    """A submission whose retries run out is deferred: its record ends with a `deferred` entry saying why and when."""
    ops.adapter.script = [TransientAgencyError("fake connection refused or unreachable", agency="fake")] * 3
    await ops.store.insert(submission("s1"))
    ops.dispatcher.submit("s1")

    async def deferred() -> bool:
        row = await ops.store.get("s1")
        return row is not None and row.not_before is not None

    await until(deferred)
    row = await ops.store.get("s1")
    assert row is not None and row.status == "accepted"
    assert [a.outcome for a in row.attempts] == ["transient", "transient", "transient", "deferred"]
    assert [a.number for a in row.attempts] == [1, 2, 3, 4]
    detail = row.attempts[-1].detail
    assert detail is not None and detail.startswith("fake connection refused") and "tried again in 30 s" in detail


async def test_waiting_out_an_open_circuit_adds_one_deferral_not_one_per_try(ops: Ops, tmp_path: Path) -> None:
    """Runs that find the circuit still open after a deferral add no entry: the first deferral stands for the wait."""
    ops.open_circuit()
    guard = ops.dispatcher.guards["fake"]
    await ops.store.insert(submission("s1"))
    for run in range(1, 4):
        if run > 1:  # make the deferred submission due now, as the passing of its wait would
            with sqlite3.connect(tmp_path / "d.sqlite3") as db:
                db.execute("UPDATE requests SET not_before = ? WHERE id = 's1'", (time.time() - 1,))
        ops.dispatcher.submit("s1")
        await until(lambda run=run: guard.fast_failures == run)  # type: ignore[misc]
        await until(lambda: not ops.dispatcher.in_flight())
    row = await ops.store.get("s1")
    assert row is not None and row.status == "accepted"
    assert [a.outcome for a in row.attempts] == ["deferred"]
    assert row.attempts[0].detail is not None and "the fake circuit is open" in row.attempts[0].detail
    assert ops.adapter.calls == []


async def test_reconcile_calls_are_entries_of_the_record(ops: Ops) -> None:
    """After an ambiguous call the agency is asked first: `not_at_agency` (sent again) or `reconciled` (it had it)."""
    ops.adapter.script = [TransientAgencyError("fake connection broke", agency="fake", sent=True)]
    ops.adapter.reconcile_script = [None]
    row = await ops.run(submission("s1"))
    assert [a.outcome for a in row.attempts] == ["ambiguous", "not_at_agency", "completed"]
    assert row.attempts[1].detail == "fake did not have it; sent again"
    ops.adapter.script = [TransientAgencyError("fake connection broke", agency="fake", sent=True)]
    ops.adapter.reconcile_script = [Completed(result=ThingResult(echoed="v", attempt=1), agency_reference="R")]
    row = await ops.run(submission("s2"))
    assert [a.outcome for a in row.attempts] == ["ambiguous", "reconciled"]
    assert [a.number for a in row.attempts] == [1, 2]
    assert row.attempts[1].detail == "fake already had the submission"


async def test_a_reconcile_call_that_times_out_is_an_entry_naming_the_agency(ops: Ops) -> None:
    """A reconcile call with no answer in time is a `transient` entry: "reconciliation with fake timed out"."""

    async def slow(call: Any) -> None:
        await asyncio.sleep(1)

    ops.adapter.script = [TransientAgencyError("fake connection broke", agency="fake", sent=True)]
    ops.adapter.reconcile = slow  # type: ignore[method-assign]
    await ops.store.insert(submission("s1", deadline=60))
    ops.dispatcher.submit("s1")

    async def settled() -> bool:
        row = await ops.store.get("s1")
        return row is not None and row.not_before is not None

    await until(settled)
    row = await ops.store.get("s1")
    assert row is not None
    outcomes = [(a.outcome, a.detail) for a in row.attempts]
    assert outcomes[0][0] == "ambiguous"
    assert ("transient", "reconciliation with fake timed out") in outcomes
    assert outcomes[-1][0] == "deferred"


# --- spans ---------------------------------------------------------------------------------------------------------


async def test_failed_request_gets_error_status_on_its_dispatch_and_attempt_spans(ops: Ops) -> None:
    """The dispatch span of a failed request is ERROR with its problem type; a failed call's attempt span is ERROR
    with its outcome class; a completed request's spans are not ERROR."""
    ops.adapter.script = [TransientAgencyError("503")] * 3
    await ops.run(new("l1"))
    await ops.run(new("l2"))
    ops.telemetry.provider.force_flush()
    spans = ops.exporter.get_finished_spans()
    dispatch = [s for s in spans if s.name.startswith("dispatch ")]
    attempts = [s for s in spans if s.name.startswith("attempt ")]
    assert [(s.status.status_code, s.status.description) for s in dispatch] == [
        (StatusCode.ERROR, "agency-unavailable"), (StatusCode.UNSET, None)]  # fmt: skip
    assert [(s.status.status_code, s.status.description) for s in attempts] == [
        (StatusCode.ERROR, "transient"), (StatusCode.ERROR, "transient"), (StatusCode.ERROR, "transient"),
        (StatusCode.UNSET, None)]  # fmt: skip


async def test_agency_client_span_is_error_on_a_failed_call() -> None:
    """The agency's client span is ERROR on a 5xx answer ("http 503") and on a timeout ("timeout"), not on 200."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(503 if request.url.path == "/down" else 200, json={})

    http = AgencyHttp(httpx.MockTransport(answer), agency="dukcapil", base_url="http://agency.test",
                      tracer=provider.get_tracer("t"))  # fmt: skip
    http.raise_for_status(await http.send(http.build("GET", "/up")), credentials="the key", location="the URL")
    with pytest.raises(TransientAgencyError) as down:
        http.raise_for_status(await http.send(http.build("GET", "/down")), credentials="the key", location="the URL")
    with pytest.raises(TransientAgencyError) as slow:
        await http.send(http.build("GET", "/slow"))
    assert (down.value.cause, slow.value.cause) == ("http 503", "timeout")
    statuses = [(s.status.status_code, s.status.description) for s in exporter.get_finished_spans()]
    assert statuses == [(StatusCode.UNSET, None), (StatusCode.ERROR, "http 503"), (StatusCode.ERROR, "timeout")]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# --- problem details name the agency -------------------------------------------------------------------------------


async def test_problem_details_name_the_agency(ops: Ops) -> None:
    """A call past its timeout fails with "the fake call timed out"; an open circuit with "the fake circuit is open"."""
    ops.adapter.script = [1.0, 1.0, 1.0]  # each call sleeps past the 0.3 s call timeout
    row = await ops.run(new("l1"))
    assert row.problem is not None and "the fake call timed out" in row.problem["detail"]
    assert "the agency" not in row.problem["detail"]
    assert row.attempts[0].detail == "the fake call timed out"
    ops.open_circuit()
    row = await ops.run(new("l2"))
    assert row.problem is not None and row.problem["detail"] == "the fake circuit is open"


# --- metrics -------------------------------------------------------------------------------------------------------


async def test_refused_retries_and_circuit_fast_failures_are_counted(ops: Ops) -> None:
    """mpp_retries_refused_total{agency,reason="budget"} counts retries the budget refused;
    mpp_circuit_fast_failures_total{agency} counts runs the open circuit answered without a call."""
    guard = ops.dispatcher.guards["fake"]
    guard.budget = RetryBudget(AgencyPolicy(budget_ratio=0.0, budget_min_retries=0))
    ops.adapter.script = [TransientAgencyError("503")]
    await ops.run(new("l1"))
    metrics = ops.telemetry.metrics
    assert metrics.registry.get_sample_value("mpp_retries_refused_total", {"agency": "fake", "reason": "budget"}) == 1
    ops.open_circuit()
    await ops.run(new("l2"))
    await ops.run(new("l3"))
    assert metrics.registry.get_sample_value("mpp_circuit_fast_failures_total", {"agency": "fake"}) == 2


# --- the open circuit's 503 ----------------------------------------------------------------------------------------


@pytest.fixture
async def api(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
) -> tuple[TestClient[Any, Any], web.Application, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    app = build_app(gateway_settings, clients=directory(), factories={"fake": lambda c: fake_adapter},
                    telemetry=Telemetry(exporter=exporter))  # fmt: skip
    return await aiohttp_client(app), app, exporter


async def test_open_circuit_503_logs_service_and_agency_and_carries_the_trace_id(
    api: tuple[TestClient[Any, Any], web.Application, InMemorySpanExporter], log_stream: io.StringIO
) -> None:
    """The 503 of an open circuit logs request.refused (service, agency, trace id) and its problem has the trace id,
    the same one as the log line and the traceresponse header; /metrics counts the fast failure; the server span is
    ERROR."""
    client, app, exporter = api
    guard = app[STATE].dispatcher.guards["fake"]
    for _ in range(guard.policy.breaker_min_calls):
        guard.breaker.record(False)
    resp = await client.post("/v1/requests", json=envelope(), headers=AUTH)
    assert resp.status == 503
    problem = await resp.json()
    assert problem["type"] == "/problems/agency-unavailable"
    trace_id = resp.headers["traceresponse"].split("-")[1]
    assert problem["trace_id"] == trace_id
    refused = events(log_stream, "request.refused")
    assert len(refused) == 1
    line = refused[0]
    assert (line["level"], line["service"], line["agency"], line["reason"]) == (
        "warning", "fake.thing.lookup", "fake", "circuit-open")  # fmt: skip
    assert line["trace_id"] == trace_id
    metrics = await (await client.get("/metrics")).text()
    assert 'mpp_circuit_fast_failures_total{agency="fake"} 1.0' in metrics
    app[TELEMETRY].provider.force_flush()
    server = next(s for s in exporter.get_finished_spans() if s.name == "POST /v1/requests")
    assert server.status.status_code is StatusCode.ERROR


# --- console exporter ----------------------------------------------------------------------------------------------


def test_console_exporter_writes_one_json_line_per_span(capsys: pytest.CaptureFixture[str]) -> None:
    """MPP_OTEL_EXPORTER=console writes each span as one line of JSON, so lines can be grouped by trace id."""
    telemetry = Telemetry(TelemetrySettings(exporter="console"))
    with telemetry.tracer.start_as_current_span("outer"), telemetry.tracer.start_as_current_span("inner"):
        pass
    telemetry.provider.force_flush()
    telemetry.shutdown()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2
    spans = [json.loads(line) for line in lines]
    assert [s["name"] for s in spans] == ["inner", "outer"]
    assert len({s["context"]["trace_id"] for s in spans}) == 1


# --- trace and span ids are never masked ---------------------------------------------------------------------------


def test_random_trace_and_span_ids_are_never_masked() -> None:
    """Of 10,000 random trace ids (about 11% hold ten or more digits in a row) and span ids, none is masked: as a
    field, inside a traceparent, or inside free text."""
    rng = random.Random(17)
    masked = 0
    for _ in range(10_000):
        trace_id, span_id = format(rng.getrandbits(128), "032x"), format(rng.getrandbits(64), "016x")
        traceparent = f"00-{trace_id}-{span_id}-01"
        event = redact_mapping({"trace_id": trace_id, "span_id": span_id, "traceparent": traceparent,
                                "event": f"see trace {trace_id} ({traceparent})"})  # fmt: skip
        if event != {"trace_id": trace_id, "span_id": span_id, "traceparent": traceparent,
                     "event": f"see trace {trace_id} ({traceparent})"}:  # fmt: skip
            masked += 1
    assert masked == 0


def test_a_nik_is_still_masked_beside_identifiers() -> None:
    """A NIK in free text is masked even next to a trace id; a NIK-shaped value under an id key is masked too."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert redact(f"trace {trace_id} nik {NIK}") == f"trace {trace_id} nik {NIK[:4]}**********{NIK[-2:]}"
    assert redact(f"{NIK}") == f"{NIK[:4]}**********{NIK[-2:]}"
    assert redact(f"a{NIK}b") != f"a{NIK}b"
    masked = redact_mapping({"trace_id": NIK, "request_id": NIK, "call_id": NIK, "detail": f"x {NIK}"})
    assert NIK not in json.dumps(masked)
    kept = redact_mapping({"request_id": "req_01JD6Z3T8Q0W5S3R2M1K0H9G8F", "span_id": "1234567890123456"})
    assert kept == {"request_id": "req_01JD6Z3T8Q0W5S3R2M1K0H9G8F", "span_id": "1234567890123456"}
