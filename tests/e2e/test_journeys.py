"""Journeys end to end: the real gateway on a loopback socket, the real mock agencies, counter apps of two MPPs.

Every shipped journey is started through ``POST /v1/journeys`` and followed through the API as a counter app
would: the combined answer, a condition skipping a registration, an optional step failing, resume after a failed
step with corrected input, cancel, another MPP's journey invisible, consent missing refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import AgencyConfig, Client, ClientDirectory, Settings, build_app, hash_key
from mocks import AGENCY_PORTS, Citizen, MockCluster, start_mocks
from tests.e2e.test_demo import free_port
from tests.fakes import consent_given_at

COUNTER_A = {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-001"}
COUNTER_B = {"mpp_id": "mpp-b", "desk": "loket-02", "operator": "op-002"}
UNKNOWN_ID = "jrn_01KAPZZZZZZZZZZZZZZZZZZZZZ"
WEBHOOK_SECRET = "journeys-e2e-webhook-secret-0000000000"
#: Where the test's webhook receiver listens (loopback; plain http is allowed for this test's gateway only).
HOOKS_PORT = free_port()
HOOKS = f"http://127.0.0.1:{HOOKS_PORT}"


def key(client_id: str) -> str:
    return f"mppk_journeys-e2e-{client_id}-000000000000000000"


CLIENTS = [
    Client("desk-a", "desk-a", frozenset({hash_key(key("desk-a"))}), mpp_id="mpp-a"),
    Client("desk-a2", "desk-a2", frozenset({hash_key(key("desk-a2"))}), mpp_id="mpp-a"),
    Client("desk-b", "desk-b", frozenset({hash_key(key("desk-b"))}), mpp_id="mpp-b"),
    Client("dukcapil-only", "dukcapil-only", frozenset({hash_key(key("dukcapil-only"))}), mpp_id="mpp-a",
           services=("dukcapil.*",)),
    Client("ops", "ops", frozenset({hash_key(key("ops"))}), services=(), roles=frozenset({"ops"})),
    Client("hooked", "hooked", frozenset({hash_key(key("hooked"))}), mpp_id="mpp-a", webhook_secret=WEBHOOK_SECRET,
           callback_origins=(HOOKS,)),
]  # fmt: skip


def auth(client_id: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key(client_id)}", **extra}


def consent() -> dict[str, str]:
    return {"method": "written", "reference": "F-2026-001", "given_at": consent_given_at()}


@dataclasses.dataclass
class World:
    http: httpx.AsyncClient
    cluster: MockCluster

    async def start(
        self, journey: str, nik: str, payload: dict[str, Any], *, client: str = "desk-a",
        counter: dict[str, str] = COUNTER_A, wait: float | None = 20, **extra: Any,
    ) -> httpx.Response:  # fmt: skip
        body = {"journey": journey, "applicant": {"nik": nik}, "counter": counter, "consent": consent(),
                "payload": payload, **extra}  # fmt: skip
        headers = auth(client, **({"Prefer": f"wait={wait:g}"} if wait is not None else {}))
        return await self.http.post("/v1/journeys", json=body, headers=headers, timeout=60)

    async def finished(self, journey_id: str, client: str = "desk-a", within: float = 60) -> dict[str, Any]:
        """The journey's record once final (polling, as a counter app without a wait would)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            record: dict[str, Any] = (await self.http.get(f"/v1/journeys/{journey_id}", headers=auth(client))).json()
            if record["status"] != "running" or asyncio.get_running_loop().time() > deadline:
                return record
            await asyncio.sleep(0.1)

    def origin(self, agency: str) -> str:
        return "/".join(self.cluster.agencies[agency].base_url.split("/", 3)[:3])

    async def faults(self, agency: str, **settings: Any) -> None:
        async with httpx.AsyncClient() as http:
            (await http.put(f"{self.origin(agency)}/_control/faults", json=settings)).raise_for_status()

    async def business(self, **query: str) -> dict[str, Any]:
        """A business of the OSS mock with an active NIB."""
        async with httpx.AsyncClient() as http:
            found = (await http.get(f"{self.origin('oss')}/_control/businesses", params={"limit": "50", **query}))
        business: dict[str, Any] = next(b for b in found.json()["businesses"] if b["status_nib"] == "01")
        return business

    def citizen(self, **filters: Any) -> Citizen:
        """An active citizen of the mocks' shared population."""
        return self.cluster.population.sample("active", limit=1, **filters)[0]


def steps(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in record["steps"]}


@pytest.fixture
async def world(gateway_settings: Settings, tmp_path: Path) -> AsyncIterator[World]:
    """The gateway with the shipped journeys, wired to every mock agency, each on its own loopback port."""
    async with await start_mocks("127.0.0.1", dict.fromkeys(AGENCY_PORTS, 0)) as cluster:
        settings = dataclasses.replace(
            gateway_settings,
            dispatch_concurrency=8,
            callback_allow_http=True,
            callback_allow_networks="127.0.0.0/8",
            adapters=tuple(cluster.agencies),
            agencies={name: AgencyConfig.from_values({**a.settings, "timeout": "2"})
                      for name, a in cluster.agencies.items()},
        )  # fmt: skip
        app = build_app(settings, clients=ClientDirectory(CLIENTS))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=30) as http:
                yield World(http, cluster)
        finally:
            await server.close()




def owner(citizen: Citizen) -> dict[str, str]:
    return {"full_name": citizen.full_name, "birth_date": citizen.birth_date.isoformat()}


def registration(citizen: Citizen) -> dict[str, Any]:
    return {
        "occupation": "trader",
        "monthly_income": "2m_to_3m",
        "programmes": ["JKK", "JKM", "JHT"],
        "phone": "081234567890",
        "address": {"street": citizen.address, "village": citizen.village_name, "district": citizen.district_name,
                    "regency": citizen.regency_name, "province": citizen.province_name},
    }  # fmt: skip


async def test_the_catalog_lists_every_shipped_journey(world: World) -> None:
    """``GET /v1/journeys`` lists the three shipped journeys with titles in Indonesian and English, their steps and
    their payload and result schemas."""
    resp = await world.http.get("/v1/journeys", headers=auth("desk-a"))
    assert resp.status_code == 200
    journeys = {j["id"]: j for j in resp.json()["journeys"]}
    assert {"counter.membership-check", "business.micro-start", "oss.permit-flow"} <= set(journeys)
    check = journeys["counter.membership-check"]
    assert check["title"]["id"] and check["title"]["en"]
    assert [s["service"] for s in check["steps"]] == [
        "dukcapil.nik.lookup", "bpjs-kesehatan.peserta.by-nik", "bpjs-ketenagakerjaan.peserta.verify",
    ]  # fmt: skip
    assert check["personal_data"] is True and check["payload_schema"]["required"] == ["service_date"]
    assert "full_name" in check["result_schema"]["properties"]
    register = next(s for s in journeys["business.micro-start"]["steps"] if s["name"] == "registration")
    assert register["conditional"] is True


async def test_membership_check_answers_once_from_three_agencies(world: World) -> None:
    """The counter's membership check asks Dukcapil and both BPJS at once and answers with one combined result;
    each step is an ordinary request of the journey's trace, readable on its own."""
    citizen = world.citizen(member=True, min_age=18, max_age=64)
    resp = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"})
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert record["status"] == "completed" and resp.headers["Preference-Applied"] == "wait=20"
    assert {name: s["status"] for name, s in steps(record).items()} == dict.fromkeys(
        ("civil_record", "health", "employment"), "completed"
    )
    result = record["result"]
    assert result["full_name"] == citizen.full_name
    assert result["jkn_card_number"] == citizen.no_kartu
    assert result["bpjstk_member"] is True and result["bpjstk_kpj"] == citizen.kpj
    assert result["checks"] == dict.fromkeys(("civil_record", "health", "employment"), "completed")
    assert record["subject"]["nik_masked"] != citizen.nik and record["within_visit"] in (True, False)
    assert record["visit_budget_seconds"] == 30 and record["finished_at"] is not None
    for step in record["steps"]:
        request = (await world.http.get(f"/v1/requests/{step['request_id']}", headers=auth("desk-a"))).json()
        assert request["status"] == "completed" and request["service"] == step["service"]
        assert request["trace_id"] == record["trace_id"]  # one trace per journey, its steps as children
        assert step["runs"] == 1 and step["attempts"] >= 1 and step["started_at"] and step["finished_at"]
    again = (await world.http.get(f"/v1/journeys/{record['id']}", headers=auth("desk-a"))).json()
    assert again["result"] == result


async def test_an_optional_step_failing_leaves_the_journey_completed(world: World) -> None:
    """With BPJS Kesehatan down, its optional step fails and the membership check still completes with the rest."""
    citizen = world.citizen()
    await world.faults("bpjs-kesehatan", error_rate=1.0)
    try:
        resp = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"}, wait=None)
        record = await world.finished(resp.json()["id"])
    finally:
        await world.faults("bpjs-kesehatan", error_rate=0.0)
    assert record["status"] == "completed", record
    health = steps(record)["health"]
    assert health["status"] == "failed" and health["required"] is False
    assert health["problem"]["type"] == "/problems/agency-unavailable"
    assert record["result"]["checks"]["health"] == "failed"
    assert record["result"]["jkn_card_number"] is None
    assert record["result"]["full_name"] == citizen.full_name


async def test_micro_start_skips_the_registration_of_a_member(world: World) -> None:
    """An owner already a BPJS Ketenagakerjaan member is not registered again: the step is skipped, saying why."""
    citizen = world.citizen(member=True, min_age=18, max_age=64)
    business = await world.business()
    payload = {"nib": business["nib"], "owner": owner(citizen), "registration": registration(citizen)}
    resp = await world.start("business.micro-start", citizen.nik, payload)
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert record["status"] == "completed", record
    register = steps(record)["registration"]
    assert register["status"] == "skipped" and register["request_id"] is None and register["skipped_because"]
    assert record["result"]["already_member"] is True and record["result"]["registration"] == "skipped"
    assert record["result"]["identity_matched"] is True and record["result"]["nib_active"] is True


async def test_micro_start_registers_an_owner_not_yet_a_member(world: World) -> None:
    """An owner who is not a member, with an active NIB and a matching identity, is registered in the same visit;
    the NIB's check and the membership lookup ran at once, before it."""
    citizen = world.citizen(member=False, min_age=18, max_age=64)
    business = await world.business()
    payload = {"nib": business["nib"], "owner": owner(citizen), "registration": registration(citizen)}
    resp = await world.start("business.micro-start", citizen.nik, payload, wait=30)
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert record["status"] == "completed", record
    by_name = steps(record)
    assert by_name["registration"]["status"] == "completed"
    assert record["result"]["registration"] == "completed" and record["result"]["registered_kpj"]
    assert by_name["registration"]["started_at"] >= max(
        by_name[s]["finished_at"] for s in ("identity", "business", "employment")
    )


async def test_resume_after_a_failed_step_with_corrected_input(world: World) -> None:
    """A wrong NIB fails the journey at the OSS check; resuming that step with the right NIB runs it again and the
    journey completes. A journey not failed cannot be resumed."""
    citizen = world.citizen(member=True, min_age=18, max_age=64)
    business = await world.business()
    payload = {"nib": "9999999999999", "owner": owner(citizen)}
    resp = await world.start("business.micro-start", citizen.nik, payload)
    failed = resp.json()
    assert failed["status"] == "failed", failed
    assert steps(failed)["business"]["status"] == "rejected"
    assert failed["problem"] is not None
    url = f"/v1/journeys/{failed['id']}/resume"
    bad = await world.http.post(url, json={"step": "business", "payload": {"nib": "12"}}, headers=auth("desk-a"))
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["payload.nib"]
    resumed = await world.http.post(url, json={"step": "business", "payload": {"nib": business["nib"]}},
                                    headers=auth("desk-a", Prefer="wait=20"))  # fmt: skip
    assert resumed.status_code == 200, resumed.text
    record = resumed.json()
    assert record["status"] == "completed", record
    assert steps(record)["business"]["status"] == "completed" and steps(record)["business"]["runs"] == 2
    assert steps(record)["business"]["request_id"] != steps(failed)["business"]["request_id"]
    assert steps(record)["identity"]["runs"] == 1  # the steps that had finished are not run again
    again = await world.http.post(url, json={"step": "business"}, headers=auth("desk-a"))
    assert again.status_code == 409 and again.json()["type"] == "/problems/journey-not-resumable"


async def test_permit_flow_reports_the_approval_then_issues_the_permit(world: World) -> None:
    """The region's permit flow: the approval goes to OSS first, then the final permit naming the permit OSS
    confirmed."""
    business = await world.business(permits="true")
    permit = business["permits"][0]
    payload = {
        "permit": {"nib": business["nib"], "project_id": permit["id_proyek"], "oss_id": business["oss_id"],
                   "permit_id": permit["id_izin"], "permit_code": permit["kd_izin"]},
        "agency_code": "137", "approved_at": "2026-11-22T10:15:00+07:00",
        "officer": {"nip": "198507142010011002", "name": "Petugas DPMPTSP"},
        "region_code": permit["kd_daerah"], "permit_number": "503/0042/DPMPTSP/2026", "issued_on": "2026-11-22",
        "signer": {"name": "Kepala DPMPTSP", "nip": "197001011995031001", "position": "Kepala Dinas"},
    }  # fmt: skip
    resp = await world.start("oss.permit-flow", business["owner_nik"], payload, wait=30)
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert record["status"] == "completed", record
    approval, issued = steps(record)["approval"], steps(record)["permit"]
    assert approval["status"] == issued["status"] == "completed"
    assert issued["started_at"] >= approval["finished_at"]
    assert record["result"]["permit_id"] == permit["id_izin"]
    assert record["result"]["permit_number"] == "503/0042/DPMPTSP/2026"


async def test_cancel_stops_a_running_journey(world: World) -> None:
    """Cancelling a journey whose step is still waiting for the agency ends it ``cancelled``; its steps not yet
    final are cancelled, and cancelling it again is 409 journey-final."""
    citizen = world.citizen()
    await world.faults("dukcapil", timeout_rate=1.0, timeout_s=20)
    try:
        resp = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"}, wait=None)
        assert resp.status_code == 202 and resp.headers["Location"] == f"/v1/journeys/{resp.json()['id']}"
        journey_id = resp.json()["id"]
        cancelled = await world.http.post(f"/v1/journeys/{journey_id}/cancel", headers=auth("desk-a"))
    finally:
        await world.faults("dukcapil", timeout_rate=0.0)
    assert cancelled.status_code == 200, cancelled.text
    record = cancelled.json()
    assert record["status"] == "cancelled" and record["finished_at"] is not None
    assert all(s["status"] != "pending" for s in record["steps"])
    again = await world.http.post(f"/v1/journeys/{journey_id}/cancel", headers=auth("desk-a"))
    assert again.status_code == 409 and again.json()["type"] == "/problems/journey-final"
    later = await world.finished(journey_id)
    assert later["status"] == "cancelled"


async def test_another_mpps_journey_is_invisible(world: World) -> None:
    """A journey is read by its MPP's clients; another MPP's client gets exactly the 404 of an unknown id on every
    journey route; an operations client reads it without results."""
    citizen = world.citizen()
    record = (await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"})).json()
    journey_id = record["id"]
    assert (await world.http.get(f"/v1/journeys/{journey_id}", headers=auth("desk-a2"))).status_code == 200
    for method, suffix, body in [("GET", "", None), ("GET", "/events", None), ("POST", "/cancel", None),
                                 ("POST", "/resume", {"step": "health"}), ("POST", "/stream-token", None)]:  # fmt: skip
        hidden = await world.http.request(method, f"/v1/journeys/{journey_id}{suffix}", json=body,
                                          headers=auth("desk-b"))  # fmt: skip
        absent = await world.http.request(method, f"/v1/journeys/{UNKNOWN_ID}{suffix}", json=body,
                                          headers=auth("desk-b"))  # fmt: skip
        assert hidden.status_code == absent.status_code == 404, (method, suffix)
        one, other = hidden.json(), absent.json()
        assert one.pop("instance").replace(journey_id, UNKNOWN_ID) == other.pop("instance")
        one.pop("trace_id"), other.pop("trace_id")
        assert one == other, (method, suffix)
    masked = (await world.http.get(f"/v1/journeys/{journey_id}", headers=auth("ops"))).json()
    assert masked["result"] is None and all(s["result"] is None for s in masked["steps"])
    assert masked["status"] == record["status"]


async def test_consent_missing_or_grants_short_are_refused(world: World) -> None:
    """A journey reading personal data without consent is 422 consent-required naming ``consent``; a client not
    granted every step's service, or acting for another MPP, 403; a payload off the schema 422 naming the field."""
    citizen = world.citizen()
    body = {"journey": "counter.membership-check", "applicant": {"nik": citizen.nik}, "counter": COUNTER_A,
            "payload": {"service_date": "2026-11-22"}}  # fmt: skip
    missing = await world.http.post("/v1/journeys", json=body, headers=auth("desk-a"))
    assert missing.status_code == 422 and missing.json()["type"] == "/problems/consent-required"
    assert [e["field"] for e in missing.json()["errors"]] == ["consent"]
    narrow = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"},
                               client="dukcapil-only")  # fmt: skip
    assert narrow.status_code == 403 and narrow.json()["type"] == "/problems/forbidden"
    elsewhere = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"},
                                  counter=COUNTER_B)  # fmt: skip
    assert elsewhere.status_code == 403 and [e["field"] for e in elsewhere.json()["errors"]] == ["counter.mpp_id"]
    off_schema = await world.start("counter.membership-check", citizen.nik, {"service_date": "soon", "x": 1})
    assert off_schema.status_code == 422
    assert {e["field"] for e in off_schema.json()["errors"]} >= {"payload.x"}
    unknown = await world.start("counter.no-such-journey", citizen.nik, {})
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["journey"]
    for resp in (missing, narrow, elsewhere, off_schema, unknown):
        assert citizen.nik not in resp.text


async def test_events_stream_the_journey_until_it_ends(world: World) -> None:
    """``GET /v1/journeys/{id}/events`` sends the record as it changes and ends with the final one."""
    citizen = world.citizen()
    started = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"}, wait=None)
    journey_id = started.json()["id"]
    async with world.http.stream("GET", f"/v1/journeys/{journey_id}/events", headers=auth("desk-a")) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"] == "text/event-stream"
        text = (await resp.aread()).decode()
    events = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    assert events, text
    last = json.loads(events[-1])
    assert last["id"] == journey_id and last["status"] == "completed"
    assert f"id: {journey_id}:1\nevent: status\n" in text


async def test_the_same_idempotency_key_starts_a_journey_once(world: World) -> None:
    """A counter app resending its start with the same ``Idempotency-Key`` gets the same journey; the key with
    another body is refused."""
    citizen = world.citizen()
    body = {"journey": "counter.membership-check", "applicant": {"nik": citizen.nik}, "counter": COUNTER_A,
            "consent": consent(), "payload": {"service_date": "2026-11-22"}}  # fmt: skip
    headers = auth("desk-a", **{"Idempotency-Key": "loket-01-journey-0001", "Prefer": "wait=20"})
    first = await world.http.post("/v1/journeys", json=body, headers=headers)
    second = await world.http.post("/v1/journeys", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    other = await world.http.post("/v1/journeys", json={**body, "payload": {"service_date": "2026-11-23"}},
                                  headers=headers)  # fmt: skip
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"


async def test_the_end_of_a_journey_is_called_back_once(world: World) -> None:
    """A journey started with a ``callback_url`` ends with one signed ``journey.status`` callback carrying its
    status and combined answer."""
    received: list[tuple[bytes, Mapping[str, str]]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers.copy()))  # names case-insensitive
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", HOOKS_PORT).start()
    try:
        citizen = world.citizen()
        resp = await world.start("counter.membership-check", citizen.nik, {"service_date": "2026-11-22"},
                                 client="hooked", callback_url=f"{HOOKS}/hooks")  # fmt: skip
        assert resp.status_code == 200, resp.text
        await asyncio.wait_for(arrived.wait(), timeout=20)
        await asyncio.sleep(1.5)  # a second delivery would come within the sender's next round
    finally:
        await runner.cleanup()
    [(body, headers)] = received
    event = json.loads(body)
    assert (event["type"], event["journey_id"], event["status"]) == ("journey.status", resp.json()["id"], "completed")
    assert event["result"]["full_name"] == citizen.full_name
    stamp = headers["X-MPP-Signature"].split(",")[0].removeprefix("t=")
    mac = hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-MPP-Signature"] == f"t={stamp},v1={mac}"  # the format README "Callbacks" documents
