"""The journey engine and the Journeys service, in a gateway with the fake adapter on a real SQLite store: steps are
ordinary requests, run in dependency order, skipped by conditions, failed, resumed, cancelled, audited, counted and
traced as one journey."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters import AgencyRejected, Call, Outcome
from contracts import JourneyRecord, JourneyRequest, JourneyStepResume
from gateway import Settings, build_app
from gateway.http import JOURNEYS, STATE, TELEMETRY
from gateway.journeys import Journeys
from gateway.problems import ApiProblem
from gateway.store import ReportQuery
from tests.fakes import NIK, FakeAdapter, ThingPayload, consent_given_at, directory

CLIENTS = directory().clients
COUNTER = {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-7"}

DEFINITIONS = {
    "chain.yaml": """
id: test.chain
title: {id: Rantai uji, en: Test chain}
visit_budget_seconds: 60
payload_schema:
  type: object
  required: [value]
  properties: {value: {type: string}}
  additionalProperties: false
steps:
  - name: first
    service: fake.thing.lookup
    payload: {value: "${journey.payload.value}"}
  - name: beside
    service: fake.thing.lookup
    payload: {value: "beside"}
  - name: second
    service: fake.thing.submit
    payload: {value: "${steps.first.result.echoed}"}
result:
  first: "${steps.first.result.echoed}"
  second: "${steps.second.result.echoed}"
""",
    "branch.yaml": """
id: test.branch
title: {id: Cabang uji, en: Test branch}
visit_budget_seconds: 60
payload_schema: {type: object, properties: {value: {type: string}}}
steps:
  - name: check
    service: fake.thing.lookup
    payload: {value: "${journey.payload.value}"}
  - name: register
    service: fake.thing.submit
    when: {equals: ["${steps.check.result.echoed}", "not-member"]}
    payload: {value: "register"}
    required: false
  - name: maybe
    service: fake.thing.lookup
    payload: {value: "bad"}
    required: false
  - name: after_maybe
    service: fake.thing.lookup
    payload: {value: "${steps.maybe.result.echoed}"}
    required: false
result:
  checked: "${steps.check.result.echoed}"
  after: "${steps.after_maybe.result.echoed}"
""",
    "dated.yaml": """
id: test.dated
title: {id: Bertanggal, en: Dated}
visit_budget_seconds: 60
payload_schema: {type: object, properties: {day: {type: string, format: date}}}
steps:
  - name: only
    service: fake.thing.lookup
    payload: {value: "${journey.payload.day}"}
""",
    "personal.yaml": """
id: test.personal
title: {id: Data pribadi, en: Personal data}
visit_budget_seconds: 0.000001
steps:
  - name: read
    service: fake.person.read
    payload: {value: "x"}
""",
}


class PickyAdapter(FakeAdapter):
    """The fake agency, rejecting the value ``bad`` whatever the order of calls."""

    async def execute(self, call: Call) -> Outcome:
        assert isinstance(call.payload, ThingPayload)
        if call.payload.value == "bad":
            self.calls.append(call)
            raise AgencyRejected("no such thing", agency="fake", code="13", slug="thing-not-found")
        return await super().execute(call)


@pytest.fixture
def journeys_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "journeys"
    folder.mkdir()
    for name, text in DEFINITIONS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def adapter() -> PickyAdapter:
    return PickyAdapter()


@pytest.fixture
def settings(gateway_settings: Settings, journeys_dir: Path) -> Settings:
    return dataclasses.replace(
        gateway_settings, journeys_dir=str(journeys_dir), sweep_interval_seconds=0.1, store_handover_seconds=0.05
    )


AppFactory = Callable[[], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_app(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    settings: Settings,
    adapter: PickyAdapter,
) -> AppFactory:
    async def make() -> TestClient[Any, Any]:
        app = build_app(
            settings,
            clients=directory(),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
            factories={"fake": lambda context: adapter},
        )
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def journeys(make_app: AppFactory) -> Journeys:
    client = await make_app()
    service = client.app[JOURNEYS]
    assert isinstance(service, Journeys)
    return service


def start_body(journey: str = "test.chain", **overrides: Any) -> JourneyRequest:
    body: dict[str, Any] = {"journey": journey, "applicant": {"nik": NIK}, "counter": COUNTER,
                            "payload": {"value": "hello"}}  # fmt: skip
    body.update(overrides)
    return JourneyRequest.model_validate(body)


async def finished(journeys: Journeys, record: JourneyRecord, client: str = "counter-a") -> JourneyRecord:
    done = await journeys.wait(CLIENTS[client], record.id, 10)
    assert done is not None and done.status.final, done
    return done


def rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(settings.store_path) as conn:
        found = [tuple(r) for r in conn.execute(sql, params).fetchall()]
    conn.close()
    return found


async def test_steps_run_in_dependency_order_and_pass_results_on(journeys: Journeys, adapter: PickyAdapter) -> None:
    """A step runs once the steps it references are final, with their results in its payload; independent steps
    run at once; the journey completes with the combined answer."""
    record = await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None, traceparent=None)
    assert record.status == "running"
    done = await finished(journeys, record)
    assert done.status == "completed" and done.result == {"first": "hello", "second": "hello"}
    assert [(s.name, s.status, s.runs, s.attempts) for s in done.steps] == [
        ("first", "completed", 1, 1), ("beside", "completed", 1, 1), ("second", "completed", 1, 1)
    ]  # fmt: skip
    assert all(s.request_id and s.started_at and s.finished_at for s in done.steps)
    first, second = done.steps[0], done.steps[2]
    assert first.finished_at is not None and second.started_at is not None
    assert first.finished_at <= second.started_at
    assert sorted(call.payload.value for call in adapter.calls) == ["beside", "hello", "hello"]  # type: ignore[attr-defined]
    assert done.within_visit is True and done.finished_at is not None


async def test_a_false_condition_skips_its_step_and_a_missing_input_skips_its_reader(journeys: Journeys) -> None:
    """The registration is skipped when the lookup shows no need; an optional step that was rejected is recorded,
    the step reading its result is skipped naming the reference, and the journey completes."""
    record = await journeys.start(CLIENTS["counter-a"], start_body("test.branch"), idempotency_key=None,
                                  traceparent=None)  # fmt: skip
    done = await finished(journeys, record)
    steps = {s.name: s for s in done.steps}
    assert done.status == "completed", done.problem
    assert (steps["register"].status, steps["register"].skipped_because) == ("skipped", "its condition is false")
    assert steps["register"].request_id is None
    assert steps["maybe"].status == "rejected" and steps["maybe"].problem is not None
    assert steps["after_maybe"].status == "skipped"
    assert "${steps.maybe.result.echoed}" in (steps["after_maybe"].skipped_because or "")
    assert done.result == {"checked": "hello", "after": None}


async def test_a_true_condition_runs_its_step(journeys: Journeys) -> None:
    """The registration runs when the lookup says the citizen needs it."""
    body = start_body("test.branch", payload={"value": "not-member"})
    done = await finished(journeys, await journeys.start(CLIENTS["counter-a"], body, idempotency_key=None,
                                                         traceparent=None))  # fmt: skip
    assert {s.name: s.status for s in done.steps}["register"] == "completed"


async def test_a_failed_required_step_fails_the_journey_and_resume_runs_it_again(
    journeys: Journeys, settings: Settings
) -> None:
    """A rejected required step fails the journey with the step's problem; resume with corrected input runs the
    step as a new request (run 2, its own key) and the journey completes."""
    body = start_body(payload={"value": "bad"})
    failed = await finished(journeys, await journeys.start(CLIENTS["counter-a"], body, idempotency_key=None,
                                                           traceparent=None))  # fmt: skip
    assert failed.status == "failed" and failed.problem is not None
    assert failed.problem.detail is not None and failed.problem.detail.startswith("step first")
    assert failed.problem.instance == f"/v1/journeys/{failed.id}"
    assert failed.steps[0].status == "rejected" and failed.steps[2].status == "pending"
    resumed = await journeys.resume(CLIENTS["counter-a"], failed.id,
                                    JourneyStepResume(step="first", payload={"value": "fixed"}))  # fmt: skip
    assert resumed.status == "running"
    done = await finished(journeys, resumed)
    assert done.status == "completed" and done.result == {"first": "fixed", "second": "fixed"}
    assert done.steps[0].runs == 2 and done.steps[0].request_id != failed.steps[0].request_id
    keys = [k for (k,) in rows(settings, "SELECT key FROM idempotency_keys WHERE key LIKE 'journey %' ORDER BY key")]
    assert keys == sorted(f"journey {done.id} {step} {run}" for step, run in
                          [("first", 1), ("first", 2), ("beside", 1), ("second", 1)])  # fmt: skip


async def test_resume_refuses_what_it_cannot_do(journeys: Journeys) -> None:
    """Resume answers 409 for a journey that has not failed, and 422 naming the field for a correction the
    service refuses; another MPP's journey is not found."""
    client = CLIENTS["counter-a"]
    failed = await finished(journeys, await journeys.start(client, start_body(payload={"value": "bad"}),
                                                           idempotency_key=None, traceparent=None))  # fmt: skip
    with pytest.raises(ApiProblem) as bad:
        await journeys.resume(client, failed.id, JourneyStepResume(step="first", payload={"value": ""}))
    assert bad.value.slug == "validation-error" and [e.field for e in bad.value.errors or []] == ["payload.value"]
    with pytest.raises(ApiProblem) as wrong_step:
        await journeys.resume(client, failed.id, JourneyStepResume(step="second"))
    assert wrong_step.value.slug == "journey-not-resumable"
    with pytest.raises(ApiProblem) as hidden:
        await journeys.resume(CLIENTS["counter-b"], failed.id, JourneyStepResume(step="first"))
    assert hidden.value.slug == "not-found"
    done = await finished(journeys, await journeys.start(client, start_body(), idempotency_key=None,
                                                         traceparent=None))  # fmt: skip
    with pytest.raises(ApiProblem) as final:
        await journeys.resume(client, done.id, JourneyStepResume(step="first"))
    assert final.value.slug == "journey-not-resumable"


async def test_cancel_cancels_pending_steps_and_refuses_a_final_journey(
    journeys: Journeys, adapter: PickyAdapter, settings: Settings
) -> None:
    """Cancelling stops the journey: steps not started are cancelled and never run; the running one ends on its
    own; a second cancel is refused."""
    adapter.release.clear()  # the agency holds every call
    client = CLIENTS["counter-a"]
    record = await journeys.start(client, start_body(), idempotency_key=None, traceparent=None)
    cancelled = await journeys.cancel(client, record.id)
    assert cancelled.status == "cancelled" and cancelled.steps[2].status == "cancelled"
    adapter.release.set()
    await asyncio.sleep(0.3)
    final = await journeys.get(client, record.id)
    assert final is not None and final.status == "cancelled"
    assert [s.status for s in final.steps] == ["completed", "completed", "cancelled"]
    assert final.steps[2].request_id is None
    assert rows(settings, "SELECT count(*) FROM requests WHERE service = 'fake.thing.submit'") == [(0,)]
    with pytest.raises(ApiProblem) as again:
        await journeys.cancel(client, record.id)
    assert again.value.slug == "journey-final"


async def test_each_step_audit_entry_names_its_journey(journeys: Journeys, settings: Settings) -> None:
    """The audit log holds journey.started, a journey.step entry naming the journey beside each step's own
    entries, and journey.completed, all under the journey's actor."""
    done = await finished(journeys, await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None,
                                                         traceparent=None))  # fmt: skip
    entries = rows(settings, "SELECT action, request_id, outcome FROM audit_log ORDER BY seq")
    step_requests = {s.request_id for s in done.steps}
    assert entries[0] == ("journey.started", done.id, "ok")
    assert entries[-1] == ("journey.completed", done.id, "ok")
    assert {r for a, r, o in entries if a == "journey.step" and o == done.id} == step_requests
    assert {r for a, r, _ in entries if a == "request.accepted"} == step_requests
    assert {r for a, r, _ in entries if a == "request.completed"} == step_requests


async def test_steps_join_the_journey_trace(journeys: Journeys, settings: Settings) -> None:
    """Every step's request carries the journey's trace, its parent the journey's root span."""
    parent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    record = await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None, traceparent=parent)
    done = await finished(journeys, record)
    assert done.trace_id == "a" * 32
    traces = rows(settings, "SELECT trace_id, traceparent FROM requests")
    root = rows(settings, "SELECT traceparent FROM journeys WHERE id = ?", done.id)[0][0]
    assert root.split("-")[1] == "a" * 32 and root.split("-")[2] != "b" * 16
    assert len(traces) == 3 and all(t == ("a" * 32, root) for t in traces)


async def test_one_trace_holds_the_journey_and_its_steps(make_app: AppFactory) -> None:
    """The journey's root span, its end and every step's dispatch span form one trace: the steps are the root's
    children."""
    app = await make_app()
    journeys = app.app[JOURNEYS]
    assert isinstance(journeys, Journeys)
    done = await finished(journeys, await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None,
                                                         traceparent=None))  # fmt: skip
    buffer = app.app[TELEMETRY].spans
    assert buffer is not None and done.trace_id is not None
    spans = buffer.trace(done.trace_id) or []
    root = next(s for s in spans if s["name"] == "journey test.chain")
    dispatches = [s for s in spans if s["name"].startswith("dispatch ")]
    assert len(dispatches) == 3 and all(s["parent_span_id"] == root["span_id"] for s in dispatches)
    end = next(s for s in spans if s["name"] == "journey test.chain completed")
    assert end["parent_span_id"] == root["span_id"]


async def test_journeys_are_counted_with_their_visit_measure(make_app: AppFactory) -> None:
    """mpp_journeys_total by journey, outcome and within_visit, and mpp_journey_seconds by journey."""
    app = await make_app()
    journeys = app.app[JOURNEYS]
    assert isinstance(journeys, Journeys)
    consent = {"method": "written", "reference": "F-1", "given_at": consent_given_at()}
    await finished(journeys, await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None,
                                                  traceparent=None))  # fmt: skip
    await finished(journeys, await journeys.start(CLIENTS["counter-a"],
                                                  start_body("test.personal", payload={}, consent=consent),
                                                  idempotency_key=None, traceparent=None))  # fmt: skip
    text = await (await app.get("/metrics")).text()
    assert 'mpp_journeys_total{journey="test.chain",outcome="completed",within_visit="true"} 1.0' in text
    assert 'mpp_journeys_total{journey="test.personal",outcome="completed",within_visit="false"} 1.0' in text
    assert 'mpp_journey_seconds_count{journey="test.chain"} 1.0' in text


async def test_the_journey_webhook_is_queued_with_its_final_state(journeys: Journeys, settings: Settings) -> None:
    """A journey with a callback_url queues one journey.status notification in the outbox as it ends."""
    body = start_body(callback_url="https://hooks.example/journeys")
    done = await finished(journeys, await journeys.start(CLIENTS["counter-a"], body, idempotency_key=None,
                                                         traceparent=None))  # fmt: skip
    found = rows(settings, "SELECT request_id, url FROM webhooks")
    assert found == [(done.id, "https://hooks.example/journeys")]


async def test_visibility_follows_requests(journeys: Journeys) -> None:
    """The same MPP sees the journey, another MPP does not, an operations client sees it without results."""
    done = await finished(journeys, await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None,
                                                         traceparent=None))  # fmt: skip
    assert await journeys.get(CLIENTS["kiosk"], done.id) is not None  # same MPP
    assert await journeys.get(CLIENTS["counter-b"], done.id) is None
    assert await journeys.wait(CLIENTS["counter-b"], done.id, 0.1) is None
    masked = await journeys.get(CLIENTS["ops"], done.id)
    assert masked is not None and masked.result is None and all(s.result is None for s in masked.steps)
    assert await journeys.get(CLIENTS["counter-a"], "jrn_00000000000000000000000000") is None


@pytest.mark.parametrize(
    ("client", "body", "slug", "fields"),
    [
        ("counter-a", {"journey": "test.nothing"}, "unknown-journey", ["journey"]),
        ("kiosk", {"journey": "test.personal", "payload": {}}, "forbidden", []),
        ("counter-a", {"counter": {**COUNTER, "mpp_id": "mpp-b"}}, "forbidden", ["counter.mpp_id"]),
        ("counter-a", {"journey": "test.personal", "payload": {}}, "consent-required", ["consent"]),
        ("counter-a", {"payload": {"value": 5, "extra": 1}}, "validation-error", ["payload.extra", "payload.value"]),
        ("counter-a", {"payload": {}}, "validation-error", ["payload.value"]),
    ],
)
async def test_start_refuses_with_a_problem_naming_the_field(
    journeys: Journeys, settings: Settings, client: str, body: dict[str, Any], slug: str, fields: list[str]
) -> None:
    """Unknown journey, a service not granted, another MPP, missing consent, a payload off its schema: refused,
    nothing stored."""
    with pytest.raises(ApiProblem) as refused:
        await journeys.start(CLIENTS[client], start_body(**body), idempotency_key=None, traceparent=None)
    assert refused.value.slug == slug
    assert sorted(e.field for e in refused.value.errors or []) == fields
    assert rows(settings, "SELECT count(*) FROM journeys") == [(0,)]


async def test_an_old_consent_is_refused(journeys: Journeys) -> None:
    """The journey's consent must be valid at the start, as a request's."""
    consent = {"method": "written", "reference": "F-1", "given_at": consent_given_at(-dt.timedelta(days=2))}
    with pytest.raises(ApiProblem) as refused:
        await journeys.start(CLIENTS["counter-a"], start_body("test.personal", payload={}, consent=consent),
                             idempotency_key=None, traceparent=None)  # fmt: skip
    assert refused.value.slug == "consent-invalid"


async def test_the_idempotency_key_replays_the_journey(journeys: Journeys, settings: Settings) -> None:
    """The same key and body give the same journey; the same key with another body is refused."""
    client = CLIENTS["counter-a"]
    first = await journeys.start(client, start_body(), idempotency_key="visit-1", traceparent=None)
    again = await journeys.start(client, start_body(), idempotency_key="visit-1", traceparent=None)
    assert again.id == first.id
    with pytest.raises(ApiProblem) as reused:
        await journeys.start(client, start_body(payload={"value": "other"}), idempotency_key="visit-1",
                             traceparent=None)  # fmt: skip
    assert reused.value.slug == "idempotency-key-reused"
    await finished(journeys, first)
    assert rows(settings, "SELECT count(*) FROM journeys") == [(1,)]


async def test_advancing_at_once_many_times_runs_each_step_once(journeys: Journeys, settings: Settings) -> None:
    """Advances racing each other (as replicas do) store one request per step: the step's key and the
    conditional step update keep the others out."""
    record = await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None, traceparent=None)
    await asyncio.gather(*(journeys.engine._round(record.id) for _ in range(8)))
    await finished(journeys, record)
    assert rows(settings, "SELECT count(*) FROM requests") == [(3,)]


async def test_a_journey_left_behind_is_advanced_by_the_sweeper(
    make_app: AppFactory, settings: Settings
) -> None:
    """A journey stored by a process that died before storing any step is found and finished after a restart."""
    first = await make_app()
    journeys = first.app[JOURNEYS]
    assert isinstance(journeys, Journeys)
    engine = journeys.engine
    original = engine.advance

    async def dies(journey_id: str) -> None:
        raise RuntimeError("killed")

    engine.advance = dies  # type: ignore[method-assign]
    record = await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None, traceparent=None)
    assert record.status == "running" and all(s.status == "pending" for s in record.steps)
    engine.advance = original  # type: ignore[method-assign]
    done = await finished(journeys, record)
    assert done.status == "completed"


async def test_changes_stream_the_record_until_it_is_final(journeys: Journeys) -> None:
    """The stream gives the record now, then at each change, and ends with the final one; nothing for a journey
    the client may not see."""
    client = CLIENTS["counter-a"]
    record = await journeys.start(client, start_body(), idempotency_key=None, traceparent=None)
    seen = [r async for r in journeys.changes(client, record.id)]
    assert seen[0].id == record.id and seen[-1].status == "completed"
    assert all(not r.status.final for r in seen[:-1])
    assert [r async for r in journeys.changes(CLIENTS["counter-b"], record.id)] == []


async def test_a_step_ending_here_advances_its_journey_at_once(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    settings: Settings,
    adapter: PickyAdapter,
) -> None:
    """With the sweeper far off, the dispatcher's notification of a step's end starts the next step: a chain of
    steps ends without waiting for a sweep."""
    slow = dataclasses.replace(settings, sweep_interval_seconds=60.0, store_handover_seconds=60.0)
    app = await aiohttp_client(build_app(slow, clients=directory(), factories={"fake": lambda context: adapter},
                                         transport=httpx.MockTransport(lambda request: httpx.Response(599))))
    journeys = app.app[JOURNEYS]
    assert isinstance(journeys, Journeys)
    record = await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None, traceparent=None)
    done = await journeys.wait(CLIENTS["counter-a"], record.id, 5)
    assert done is not None and done.status == "completed"


async def test_a_payload_breaking_a_format_is_refused(journeys: Journeys) -> None:
    """The payload schema's formats are checked too (a date that is not one), naming the field."""
    with pytest.raises(ApiProblem) as refused:
        await journeys.start(CLIENTS["counter-a"], start_body("test.dated", payload={"day": "soon"}),
                             idempotency_key=None, traceparent=None)  # fmt: skip
    assert [e.field for e in refused.value.errors or []] == ["payload.day"]


async def test_the_service_level_report_gives_the_share_of_journeys_within_their_visit(make_app: AppFactory) -> None:
    """The report's journeys_within_visit is the share of ended journeys that kept their visit budget, per MPP and per
    agency their steps reached; rows without journeys have none."""
    app = await make_app()
    journeys = app.app[JOURNEYS]
    consent = {"method": "written", "reference": "F-1", "given_at": consent_given_at()}
    await finished(journeys, await journeys.start(CLIENTS["counter-a"], start_body(), idempotency_key=None,
                                                  traceparent=None))  # fmt: skip
    await finished(journeys, await journeys.start(CLIENTS["counter-a"],
                                                  start_body("test.personal", payload={}, consent=consent),
                                                  idempotency_key=None, traceparent=None))  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    window = ReportQuery(now - dt.timedelta(hours=2), now + dt.timedelta(hours=1), bucket="day", group_by=("mpp",))
    by_mpp = await app.app[STATE].store.service_levels(window)
    assert [(row.group, row.journeys_within_visit) for row in by_mpp] == [((("mpp_id", "mpp-a"),), 0.5)]
    by_service = await app.app[STATE].store.service_levels(dataclasses.replace(window, group_by=("service",)))
    shares = {dict(row.group)["service"]: row.journeys_within_visit for row in by_service}
    assert shares == {"fake.person.read": 0.0, "fake.thing.lookup": 1.0, "fake.thing.submit": 1.0}
