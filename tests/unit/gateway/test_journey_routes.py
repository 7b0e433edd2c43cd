"""The journeys API's routes over a fake journeys service: body checks, answers, waits, events, resume and cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts import (
    Counter,
    JourneyDescriptor,
    JourneyRecord,
    JourneyRequest,
    JourneyStatus,
    JourneyStepDescriptor,
    JourneyStepRecord,
    JourneyStepResume,
    LocalizedText,
    StepStatus,
    Subject,
)
from gateway import ApiProblem, Client, ClientDirectory, Settings, build_app, hash_key
from gateway.http import JOURNEYS, JourneyService
from gateway.journeys import Journeys
from tests.fakes import KEY_A, KEY_B, NIK, FakeAdapter, consent_given_at, directory

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /v1/journeys`` body for counter-a's MPP."""
    out: dict[str, Any] = {
        "journey": "fake.check",
        "applicant": {"nik": NIK},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-001"},
        "consent": {"method": "written", "reference": "F-2026-001", "given_at": consent_given_at()},
        "payload": {"value": "x"},
    }
    out.update(overrides)
    return out


def descriptor(journey_id: str) -> JourneyDescriptor:
    return JourneyDescriptor(
        id=journey_id,
        title=LocalizedText(id="Periksa", en="Check"),
        visit_budget_seconds=60,
        personal_data=True,
        payload_schema={"type": "object"},
        result_schema={"type": "object"},
        steps=[
            JourneyStepDescriptor(
                name="thing", service="fake.thing.lookup", title=LocalizedText(id="Hal", en="Thing"), required=True,
                conditional=False,
            )
        ],
    )  # fmt: skip


@dataclasses.dataclass
class FakeCatalog:
    items: list[JourneyDescriptor]

    def descriptors(self) -> list[JourneyDescriptor]:
        return list(self.items)


class FakeJourneys:
    """Keeps records in memory; a journey runs until the test (or ``wait``) finishes it."""

    def __init__(self) -> None:
        self._catalog = FakeCatalog([descriptor("fake.zeta"), descriptor("fake.check")])
        self.records: dict[str, JourneyRecord] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.refusal: ApiProblem | None = None
        self.finish_on_wait = False
        self.changed = asyncio.Event()

    @property
    def catalog(self) -> FakeCatalog:
        return self._catalog

    def put(self, record: JourneyRecord) -> JourneyRecord:
        self.records[record.id] = record
        self.changed.set()
        return record

    def make(self, client: Client, mpp_id: str, status: JourneyStatus = JourneyStatus.RUNNING) -> JourneyRecord:
        now = dt.datetime.now(dt.UTC)
        step = StepStatus.RUNNING if status is JourneyStatus.RUNNING else StepStatus.FAILED
        return self.put(
            JourneyRecord(
                id=f"jrn_{len(self.records):026d}", journey="fake.check", status=status, client_id=client.id,
                counter=Counter(mpp_id=mpp_id, desk="loket-01", operator="op-001"),
                subject=Subject(nik_masked="3201**********01"),
                steps=[JourneyStepRecord(name="thing", service="fake.thing.lookup", status=step, required=True)],
                visit_budget_seconds=60, created_at=now, updated_at=now,
            )
        )  # fmt: skip

    def moved(self, journey_id: str, status: JourneyStatus) -> JourneyRecord:
        record = self.records[journey_id]
        final = None if status is JourneyStatus.RUNNING else dt.datetime.now(dt.UTC)
        return self.put(record.model_copy(update={"status": status, "finished_at": final}))

    async def start(
        self, client: Client, request: JourneyRequest, *, idempotency_key: str | None, traceparent: str | None
    ) -> JourneyRecord:
        self.calls.append(("start", client.id, request, idempotency_key, traceparent))
        if self.refusal is not None:
            raise self.refusal
        return self.make(client, request.counter.mpp_id)

    async def get(self, client: Client, journey_id: str) -> JourneyRecord | None:
        record = self.records.get(journey_id)
        if record is None or not client.may_read(record.client_id, record.counter.mpp_id):
            return None
        return record

    async def wait(self, client: Client, journey_id: str, timeout: float) -> JourneyRecord | None:  # noqa: ASYNC109
        self.calls.append(("wait", journey_id, timeout))
        if self.finish_on_wait:
            return self.moved(journey_id, JourneyStatus.COMPLETED)
        return await self.get(client, journey_id)

    async def resume(self, client: Client, journey_id: str, resume: JourneyStepResume) -> JourneyRecord:
        self.calls.append(("resume", journey_id, resume))
        if await self.get(client, journey_id) is None:
            raise ApiProblem("not-found", "no journey with this id for this client")
        if self.records[journey_id].status is not JourneyStatus.FAILED:
            raise ApiProblem("journey-not-resumable", "the journey is not failed")
        return self.moved(journey_id, JourneyStatus.RUNNING)

    async def cancel(self, client: Client, journey_id: str) -> JourneyRecord:
        self.calls.append(("cancel", journey_id))
        if await self.get(client, journey_id) is None:
            raise ApiProblem("not-found", "no journey with this id for this client")
        if self.records[journey_id].status.final:
            raise ApiProblem("journey-final", "the journey has ended")
        return self.moved(journey_id, JourneyStatus.CANCELLED)

    async def changes(self, client: Client, journey_id: str) -> AsyncIterator[JourneyRecord]:
        while True:
            self.changed.clear()
            record = self.records[journey_id]
            yield record
            if record.status.final:
                return
            await self.changed.wait()


def _real_service_fits(journeys: Journeys) -> JourneyService:
    """The gateway's journeys service has the shape the routes call (a mypy check: never run)."""
    return journeys


@pytest.fixture
def journeys() -> FakeJourneys:
    return FakeJourneys()


@pytest.fixture
async def api(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter, journeys: FakeJourneys
) -> TestClient[Any, Any]:
    settings = dataclasses.replace(gateway_settings, sweep_interval_seconds=0.05)
    app = build_app(settings, clients=directory(), factories={"fake": lambda context: fake_adapter})
    service: JourneyService = journeys  # the fake has the service's shape (checked by mypy)
    app[JOURNEYS] = service
    return await aiohttp_client(app)


def client(client_id: str) -> Client:
    return directory().clients[client_id]


async def problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    data: dict[str, Any] = await resp.json()
    assert data["type"] == f"/problems/{slug}"
    return data


async def test_catalog_lists_every_journey_by_id(api: TestClient[Any, Any]) -> None:
    """``GET /v1/journeys`` answers the service's descriptors, sorted by id, with titles in both languages."""
    resp = await api.get("/v1/journeys", headers=A)
    assert resp.status == 200
    listed = (await resp.json())["journeys"]
    assert [j["id"] for j in listed] == ["fake.check", "fake.zeta"]
    assert listed[0]["title"] == {"id": "Periksa", "en": "Check"}
    assert listed[0]["steps"][0]["service"] == "fake.thing.lookup"


async def test_every_route_needs_a_client(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """Without a key each journeys route is a 401 problem, and the service is never called."""
    for method, path in [
        ("GET", "/v1/journeys"), ("POST", "/v1/journeys"), ("GET", "/v1/journeys/jrn_1"),
        ("GET", "/v1/journeys/jrn_1/events"), ("POST", "/v1/journeys/jrn_1/resume"),
        ("POST", "/v1/journeys/jrn_1/cancel"), ("POST", "/v1/journeys/jrn_1/stream-token"),
    ]:  # fmt: skip
        await problem(await api.request(method, path, json={}), 401, "unauthorized")
    assert journeys.calls == []


async def test_start_answers_202_with_location_while_running(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """A started journey still running answers 202, ``Location`` naming it; key and traceparent reach the service."""
    resp = await api.post(
        "/v1/journeys", json=body(), headers={**A, "Idempotency-Key": "loket-01-0001", "traceparent": TRACEPARENT}
    )
    assert resp.status == 202
    record = await resp.json()
    assert resp.headers["Location"] == f"/v1/journeys/{record['id']}"
    assert record["status"] == "running" and record["client_id"] == "counter-a"
    [(kind, client_id, request, key, traceparent)] = journeys.calls
    assert (kind, client_id, key) == ("start", "counter-a", "loket-01-0001")
    assert isinstance(request, JourneyRequest) and request.payload == {"value": "x"}
    assert traceparent is not None and traceparent.split("-")[1] == TRACEPARENT.split("-")[1]


async def test_prefer_wait_answers_200_with_the_final_record(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """With ``Prefer: wait=N`` the route waits (capped at the gateway's maximum) and answers 200 once final."""
    journeys.finish_on_wait = True
    resp = await api.post("/v1/journeys", json=body(), headers={**A, "Prefer": "wait=5"})
    assert resp.status == 200
    assert (await resp.json())["status"] == "completed"
    assert resp.headers["Preference-Applied"] == "wait=5"
    assert "Location" not in resp.headers
    capped = await api.post("/v1/journeys", json=body(), headers={**A, "Prefer": "wait=9999"})
    assert capped.headers["Preference-Applied"] == "wait=60"
    assert [c[2] for c in journeys.calls if c[0] == "wait"] == [5.0, 60.0]


async def test_a_wait_that_ends_first_answers_202(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """A journey not final when the wait ends is answered 202 with ``Location``, the wait still reported."""
    resp = await api.post("/v1/journeys", json=body(), headers={**A, "Prefer": "wait=1"})
    assert resp.status == 202 and resp.headers["Preference-Applied"] == "wait=1"
    assert resp.headers["Location"].startswith("/v1/journeys/jrn_")


@pytest.mark.parametrize(
    ("sent", "fields"),
    [
        ([1, 2], ["(body)"]),
        (body(journey="Not A Journey"), ["journey"]),
        ({k: v for k, v in body().items() if k != "applicant"}, ["applicant"]),
        (body(applicant={"nik": "123"}), ["applicant.nik"]),
        (body(counter={"mpp_id": "mpp-a", "desk": NIK, "operator": "op-001"}), ["counter"]),
        (body(payload=[1]), ["payload"]),
        (body(extra=True), ["extra"]),
        (body(consent={"method": "written"}), ["consent.reference", "consent.given_at"]),
        (body(callback_url="not a url"), ["callback_url"]),
    ],
)
async def test_a_body_breaking_the_contract_is_a_problem_naming_the_field(
    api: TestClient[Any, Any], journeys: FakeJourneys, sent: Any, fields: list[str]
) -> None:
    """A body that does not fit ``JourneyRequest`` is 422 validation-error naming each field; nothing is started."""
    data = await problem(await api.post("/v1/journeys", json=sent, headers=A), 422, "validation-error")
    named = [e["field"] for e in data["errors"]]
    assert all(any(n == f or n.startswith(f + ".") for n in named) for f in fields), named
    assert NIK not in str(data)
    assert journeys.calls == []


async def test_malformed_and_non_json_bodies_are_problems(api: TestClient[Any, Any]) -> None:
    """Invalid JSON is 400 malformed-json; another media type 415; never a 500."""
    await problem(await api.post("/v1/journeys", data=b"{", headers={**A, "Content-Type": "application/json"}), 400,
                  "malformed-json")  # fmt: skip
    await problem(await api.post("/v1/journeys", data=b"x", headers={**A, "Content-Type": "text/plain"}), 415,
                  "unsupported-media-type")  # fmt: skip


@pytest.mark.parametrize("key", ["has space", "x" * 256, f"loket-{NIK}"])
async def test_a_bad_idempotency_key_is_refused(api: TestClient[Any, Any], journeys: FakeJourneys, key: str) -> None:
    """An ``Idempotency-Key`` that is not 1-255 visible characters, or holds a NIK, is 422 naming the header."""
    data = await problem(await api.post("/v1/journeys", json=body(), headers={**A, "Idempotency-Key": key}), 422,
                         "validation-error")  # fmt: skip
    assert [e["field"] for e in data["errors"]] == ["Idempotency-Key"]
    assert NIK not in str(data)
    assert journeys.calls == []


async def test_a_callback_needs_a_webhook_secret(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """A ``callback_url`` from a client without a webhook secret is 422 naming ``callback_url``."""
    sent = body(callback_url="https://counter.example/hooks")
    data = await problem(await api.post("/v1/journeys", json=sent, headers=A), 422, "validation-error")
    assert [e["field"] for e in data["errors"]] == ["callback_url"]
    assert journeys.calls == []


async def test_a_callback_outside_the_clients_origins_is_refused(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter, journeys: FakeJourneys
) -> None:
    """A ``callback_url`` outside the client's callback origins (or not https) is 422 naming ``callback_url``; one
    inside them reaches the journeys service."""
    hooked = Client("hooked", "Hooked", frozenset({hash_key("mppk_test-key-hooked-0000000000000000000000")}),
                    mpp_id="mpp-a", webhook_secret="s" * 32, callback_origins=("https://hooks.counter.example",))
    app = build_app(gateway_settings, clients=ClientDirectory([*directory().clients.values(), hooked]),
                    factories={"fake": lambda context: fake_adapter})  # fmt: skip
    app[JOURNEYS] = journeys
    api = await aiohttp_client(app)
    headers = {"Authorization": "Bearer mppk_test-key-hooked-0000000000000000000000"}
    for url in ("https://elsewhere.example/hooks", "http://hooks.counter.example/hooks"):
        data = await problem(await api.post("/v1/journeys", json=body(callback_url=url), headers=headers), 422,
                             "validation-error")  # fmt: skip
        assert [e["field"] for e in data["errors"]] == ["callback_url"]
    assert journeys.calls == []
    resp = await api.post("/v1/journeys", json=body(callback_url="https://hooks.counter.example/j"), headers=headers)
    assert resp.status == 202 and [c[0] for c in journeys.calls] == ["start"]


async def test_refusals_of_the_service_pass_through(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """A problem the journeys service raises (grants, consent, payload) is the answer, unchanged."""
    journeys.refusal = ApiProblem("forbidden", "this client is not granted every step's service")
    data = await problem(await api.post("/v1/journeys", json=body(), headers=A), 403, "forbidden")
    assert data["detail"] == "this client is not granted every step's service"


async def test_a_journey_is_read_by_its_mpp_only(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """The owner reads the record; another MPP's client gets the 404 an unknown id gets, on every journey route."""
    record = journeys.make(client("counter-a"), "mpp-a")
    resp = await api.get(f"/v1/journeys/{record.id}", headers=A)
    assert resp.status == 200 and (await resp.json())["id"] == record.id
    for suffix, method in [("", "GET"), ("/events", "GET"), ("/resume", "POST"), ("/cancel", "POST"),
                           ("/stream-token", "POST")]:  # fmt: skip
        hidden = await problem(
            await api.request(method, f"/v1/journeys/{record.id}{suffix}", headers=B, json={"step": "thing"}),
            404, "not-found",
        )  # fmt: skip
        absent = await problem(
            await api.request(method, f"/v1/journeys/jrn_unknown{suffix}", headers=B, json={"step": "thing"}),
            404, "not-found",
        )  # fmt: skip
        assert hidden["detail"] == absent["detail"]


async def test_events_stream_each_change_until_final(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """The event stream sends the record now, keep-alives while nothing changes, each change, and ends when final."""
    record = journeys.make(client("counter-a"), "mpp-a")
    resp = await api.get(f"/v1/journeys/{record.id}/events", headers=A)
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    seen = b""
    while b": keep-alive" not in seen:
        seen += await resp.content.readany()
    assert f"id: {record.id}:1\nevent: status\n".encode() in seen and b'"status":"running"' in seen
    journeys.moved(record.id, JourneyStatus.COMPLETED)
    rest = await resp.content.read()  # the stream ends after the final record
    assert f"id: {record.id}:2\nevent: status\n".encode() in rest and b'"status":"completed"' in rest


async def test_a_stream_token_opens_that_journeys_events_only(
    api: TestClient[Any, Any], journeys: FakeJourneys
) -> None:
    """``POST .../stream-token`` gives a token that opens this journey's stream without a key, and no other's."""
    done = journeys.make(client("counter-a"), "mpp-a", JourneyStatus.FAILED)
    other = journeys.make(client("counter-a"), "mpp-a", JourneyStatus.FAILED)
    issued = await (await api.post(f"/v1/journeys/{done.id}/stream-token", headers=A)).json()
    assert issued["events_url"] == f"/v1/journeys/{done.id}/events?token={issued['token']}"
    await problem(await api.get(f"/v1/journeys/{other.id}/events?token={issued['token']}"), 401, "unauthorized")
    issued = await (await api.post(f"/v1/journeys/{done.id}/stream-token", headers=A)).json()
    resp = await api.get(issued["events_url"])
    assert resp.status == 200 and b'"status":"failed"' in await resp.read()


async def test_resume_checks_its_body_and_answers_the_running_journey(
    api: TestClient[Any, Any], journeys: FakeJourneys
) -> None:
    """Resume validates ``{step, payload}`` naming the field, hands it over, and answers 202 while it runs again."""
    record = journeys.make(client("counter-a"), "mpp-a", JourneyStatus.FAILED)
    url = f"/v1/journeys/{record.id}/resume"
    bad = await problem(await api.post(url, json={"step": "No Such"}, headers=A), 422, "validation-error")
    assert [e["field"] for e in bad["errors"]] == ["step"]
    extra = await problem(await api.post(url, json={"step": "thing", "x": 1}, headers=A), 422, "validation-error")
    assert [e["field"] for e in extra["errors"]] == ["x"]
    resp = await api.post(url, json={"step": "thing", "payload": {"value": "y"}}, headers=A)
    assert resp.status == 202 and resp.headers["Location"] == f"/v1/journeys/{record.id}"
    assert (await resp.json())["status"] == "running"
    assert journeys.calls[-1] == ("resume", record.id, JourneyStepResume(step="thing", payload={"value": "y"}))


async def test_resume_of_a_journey_not_failed_is_409(api: TestClient[Any, Any], journeys: FakeJourneys) -> None:
    """Resuming a journey that did not fail is 409 journey-not-resumable, a problem type the gateway serves."""
    record = journeys.make(client("counter-a"), "mpp-a")
    data = await problem(await api.post(f"/v1/journeys/{record.id}/resume", json={"step": "thing"}, headers=A), 409,
                         "journey-not-resumable")  # fmt: skip
    assert data["title"] == "The journey cannot be resumed"
    assert (await api.get("/problems/journey-not-resumable")).status == 200


async def test_cancel_answers_the_cancelled_record_and_409_once_ended(
    api: TestClient[Any, Any], journeys: FakeJourneys
) -> None:
    """Cancel answers 200 with the cancelled journey; cancelling it again is 409 journey-final."""
    record = journeys.make(client("counter-a"), "mpp-a")
    resp = await api.post(f"/v1/journeys/{record.id}/cancel", headers=A)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    await problem(await api.post(f"/v1/journeys/{record.id}/cancel", headers=A), 409, "journey-final")


async def test_without_a_journeys_service_the_routes_answer_404(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> None:
    """A gateway app with no journeys service answers 404 not-found on its journeys routes, never a 500."""
    app = build_app(gateway_settings, clients=directory(), factories={"fake": lambda context: fake_adapter})
    app.pop(JOURNEYS, None)
    api = await aiohttp_client(app)
    await problem(await api.get("/v1/journeys", headers=A), 404, "not-found")
    await problem(await api.post("/v1/journeys", json=body(), headers=A), 404, "not-found")
