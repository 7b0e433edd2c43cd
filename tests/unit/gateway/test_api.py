"""The HTTP API against the fake adapter: contract validation, problems, waiting, visibility."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adapters import AgencyRejected
from tests.fakes import KEY_A, KEY_B, KEY_NARROW, NIK, FakeAdapter, consent_given_at, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}


async def post(
    client: TestClient[Any, Any], body: Any, *, key: str = KEY_A, wait: float | None = 5, **headers: str
) -> Any:
    hdrs = {"Authorization": f"Bearer {key}", **headers}
    if wait is not None:
        hdrs["Prefer"] = f"wait={wait}"
    return await client.post("/v1/requests", json=body, headers=hdrs)


async def test_lookup_within_wait_answers_200_with_completed_record(gateway_client: TestClient[Any, Any]) -> None:
    """A lookup that finishes within Prefer: wait comes back 200 with the completed record and its result."""
    resp = await post(gateway_client, envelope())
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "completed"
    assert body["result"] == {"echoed": "hello", "attempt": 1}
    assert body["agency_reference"] == "REF-1"
    assert body["subject"] == {"nik_masked": "3201**********01"}
    assert len(body["attempts"]) == 1 and body["attempts"][0]["outcome"] == "completed"
    assert resp.headers["Location"] == f"/v1/requests/{body['id']}"
    assert resp.headers["Preference-Applied"] == "wait=5"
    assert len(body["trace_id"]) == 32


async def test_without_prefer_wait_answers_202_and_record_completes_later(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Without Prefer: wait the answer is 202 with Location; polling the record shows it completed."""
    fake_adapter.release.clear()
    resp = await post(gateway_client, envelope(), wait=None)
    assert resp.status == 202
    location = resp.headers["Location"]
    assert (await resp.json())["status"] in {"accepted", "in_progress"}
    fake_adapter.release.set()
    for _ in range(100):
        record = await (await gateway_client.get(location, headers=AUTH)).json()
        if record["status"] == "completed":
            break
        await asyncio.sleep(0.02)
    assert record["status"] == "completed"


async def test_wait_that_expires_answers_202(gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter) -> None:
    """A request still running when the wait ends is answered 202, not held open."""
    fake_adapter.release.clear()
    resp = await post(gateway_client, envelope(), wait=0.2)
    assert resp.status == 202
    fake_adapter.release.set()


async def test_traceparent_from_counter_is_kept(gateway_client: TestClient[Any, Any]) -> None:
    """A W3C traceparent sent by the counter app sets the request's trace id."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    resp = await post(gateway_client, envelope(), traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    assert (await resp.json())["trace_id"] == trace_id


async def test_agency_rejection_is_final_and_not_retried(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """A rejection ends the request as rejected after one attempt, with the agency's code in the problem."""
    fake_adapter.script = [AgencyRejected("no such NIK", agency="fake", code="13", slug="thing-not-found")]
    body = await (await post(gateway_client, envelope())).json()
    assert body["status"] == "rejected"
    assert body["problem"]["type"] == "/problems/thing-not-found"
    assert body["problem"]["code"] == "13"
    assert len(fake_adapter.calls) == 1


@pytest.mark.parametrize(
    ("body", "status", "slug", "field"),
    [
        (envelope(applicant={"nik": "9901014708900001"}), 422, "validation-error", "applicant.nik"),
        (envelope(applicant={"nik": "3201014708900000"}), 422, "validation-error", "applicant.nik"),
        (envelope(applicant={"nik": "32010147089"}), 422, "validation-error", "applicant.nik"),
        (envelope(payload={"value": ""}), 422, "validation-error", "payload.value"),
        (envelope(payload={"value": "x", "colour": "red"}), 422, "validation-error", "payload.colour"),
        (envelope(payload={"value": "x", "count": 99}), 422, "validation-error", "payload.count"),
        (envelope(counter={"mpp_id": "mpp-a", "desk": "d"}), 422, "validation-error", "counter.operator"),
        (envelope(extra_field=1), 422, "validation-error", "extra_field"),
        (envelope(service="nope.such.service"), 404, "unknown-service", "service"),
        (envelope(service="not a service id"), 422, "validation-error", "service"),
        ([1, 2, 3], 422, "validation-error", "(body)"),
        (envelope(service="fake.person.read"), 422, "consent-required", "consent"),
    ],
)
async def test_bad_input_answers_problem_naming_the_field(
    gateway_client: TestClient[Any, Any], body: Any, status: int, slug: str, field: str
) -> None:
    """Each kind of bad input answers its status with a problem whose errors name the offending field."""
    resp = await post(gateway_client, body)
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == f"/problems/{slug}"
    assert problem["status"] == status
    assert field in [e["field"] for e in problem.get("errors", [])]
    assert NIK not in await resp.text()


async def test_malformed_json_answers_400(gateway_client: TestClient[Any, Any]) -> None:
    """A body that is not JSON answers 400 malformed-json."""
    resp = await gateway_client.post(
        "/v1/requests", data=b'{"service": ', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["type"] == "/problems/malformed-json"


async def test_oversized_body_answers_413(gateway_client: TestClient[Any, Any]) -> None:
    """A body over the configured limit answers 413 as a problem, and nothing is stored."""
    big = envelope(payload={"value": "x" * 40_000})
    resp = await post(gateway_client, big)
    assert resp.status == 413
    assert (await resp.json())["type"] == "/problems/payload-too-large"


async def test_non_json_content_type_answers_415(gateway_client: TestClient[Any, Any]) -> None:
    """A form-encoded body answers 415."""
    resp = await gateway_client.post("/v1/requests", data={"a": "b"}, headers=AUTH)
    assert resp.status == 415


async def test_consent_lets_personal_data_service_through(gateway_client: TestClient[Any, Any]) -> None:
    """A personal-data service with a consent record is accepted and completed."""
    consent = {"method": "written", "reference": "FORM-1", "given_at": consent_given_at()}
    resp = await post(gateway_client, envelope(service="fake.person.read", consent=consent))
    assert resp.status == 200


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer "])
async def test_missing_or_unknown_key_answers_401(
    gateway_client: TestClient[Any, Any], authorization: str | None
) -> None:
    """Requests without a known API key are refused with 401 and a WWW-Authenticate challenge."""
    headers = {"Authorization": authorization} if authorization else {}
    resp = await gateway_client.get("/v1/services", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["type"] == "/problems/unauthorized"


async def test_client_not_granted_service_gets_403(gateway_client: TestClient[Any, Any]) -> None:
    """A client limited to other services is refused with 403."""
    resp = await post(gateway_client, envelope(service="fake.person.read"), key=KEY_NARROW)
    assert resp.status == 403


async def test_client_cannot_act_for_another_mpp(gateway_client: TestClient[Any, Any]) -> None:
    """A client bound to one MPP cannot file requests for another."""
    resp = await post(gateway_client, envelope(), key=KEY_B)
    assert resp.status == 403


async def test_other_mpp_cannot_read_a_request(gateway_client: TestClient[Any, Any]) -> None:
    """A request is visible to its MPP's clients and invisible (404) to another MPP's."""
    record = await (await post(gateway_client, envelope())).json()
    path = f"/v1/requests/{record['id']}"
    assert (await gateway_client.get(path, headers={"Authorization": f"Bearer {KEY_NARROW}"})).status == 200
    other = await gateway_client.get(path, headers={"Authorization": f"Bearer {KEY_B}"})
    assert other.status == 404
    assert (await other.json())["type"] == "/problems/not-found"


async def test_unknown_request_id_answers_404(gateway_client: TestClient[Any, Any]) -> None:
    """An unknown request id answers a 404 problem."""
    resp = await gateway_client.get("/v1/requests/req_00000000000000000000000000", headers=AUTH)
    assert resp.status == 404


async def test_catalog_lists_services_with_schemas(gateway_client: TestClient[Any, Any]) -> None:
    """The catalog lists every service with both titles, kind, personal-data flag and schemas."""
    services = (await (await gateway_client.get("/v1/services", headers=AUTH)).json())["services"]
    ids = [s["id"] for s in services]
    assert ids == sorted(["fake.thing.lookup", "fake.person.read", "fake.thing.submit"])
    read = next(s for s in services if s["id"] == "fake.person.read")
    assert read["personal_data"] is True and read["title"]["en"] and read["title"]["id"]
    assert read["payload_schema"]["properties"]["value"]["type"] == "string"
    one = await gateway_client.get("/v1/services/fake.thing.lookup", headers=AUTH)
    assert (await one.json())["kind"] == "lookup"
    missing = await gateway_client.get("/v1/services/fake.nothing.here", headers=AUTH)
    assert missing.status == 404


async def test_unknown_route_and_method_answer_problems(gateway_client: TestClient[Any, Any]) -> None:
    """Unknown paths answer 404 and wrong methods 405, both as problems."""
    resp = await gateway_client.get("/v1/nothing", headers=AUTH)
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    resp = await gateway_client.delete("/v1/services", headers=AUTH)
    assert resp.status == 405 and resp.content_type == "application/problem+json"


async def test_health_and_readiness_need_no_key(gateway_client: TestClient[Any, Any]) -> None:
    """/healthz and /readyz answer without credentials; readiness lists the loaded adapters."""
    assert (await gateway_client.get("/healthz")).status == 200
    ready = await gateway_client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"]["adapters"] == ["fake"]


async def test_problem_type_uris_resolve_to_pages(gateway_client: TestClient[Any, Any]) -> None:
    """Every problem's type URI resolves to a readable page."""
    resp = await gateway_client.get("/problems/validation-error")
    assert resp.status == 200 and "The request is not valid" in await resp.text()
    assert (await gateway_client.get("/problems/no-such-problem")).status == 404
