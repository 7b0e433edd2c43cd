"""/openapi.json and /docs."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel

from adapters import Service
from contracts import LocalizedText, ServiceKind
from gateway import build_openapi
from gateway.http import HTTP_STATUS_SLUGS
from tests.fakes import KEY_A, envelope

FAKE_SERVICES = {"fake.thing.lookup", "fake.person.read", "fake.thing.submit"}


def _component(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def _validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    """A JSON Schema validator of the document's component ``name``, its references resolved in the document."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


async def test_openapi_is_valid_3_1_and_covers_every_route(gateway_client: TestClient[Any, Any]) -> None:
    """The served document validates as OpenAPI 3.1 and describes every route the app serves."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in gateway_client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served == described


async def test_openapi_describes_every_error_response_as_problem(gateway_client: TestClient[Any, Any]) -> None:
    """Every 4xx/5xx response in the document is a problem+json Problem, and the statuses handlers raise appear."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    for ops in spec["paths"].values():
        for op in ops.values():
            for code, response in op["responses"].items():
                if int(code) >= 400:
                    assert "application/problem+json" in response["content"], (code, op["operationId"])
    post = spec["paths"]["/v1/requests"]["post"]["responses"]
    assert {"400", "401", "403", "404", "413", "415", "422"} <= set(post)
    assert set(HTTP_STATUS_SLUGS) - {405} <= {int(c) for c in post}


async def test_openapi_names_body_timeouts_and_stream_caps(gateway_client: TestClient[Any, Any]) -> None:
    """A route reading a JSON body documents 408 (body too slow); the event stream documents its caps, 429 and 503."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                assert "408" in op["responses"], (method, path)
    events = spec["paths"]["/v1/requests/{request_id}/events"]["get"]["responses"]
    assert "too-many-event-streams" in events["429"]["description"]
    assert "event-streams-full" in events["503"]["description"]


async def test_openapi_carries_each_service_payload_schema(gateway_client: TestClient[Any, Any]) -> None:
    """Each service's payload and result schemas are components of the document."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    assert "FakeThingLookupPayload" in spec["components"]["schemas"]
    assert "FakePersonReadResult" in spec["components"]["schemas"]


async def test_request_body_is_one_variant_per_service_told_apart_by_service(
    gateway_client: TestClient[Any, Any],
) -> None:
    """The POST /v1/requests body is a oneOf with a ``service`` discriminator: per service, ``service`` fixed to its
    id and ``payload`` that service's payload schema (required when that schema requires fields)."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    body = spec["paths"]["/v1/requests"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    union = _component(spec, body["$ref"])
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "service" and set(mapping) == FAKE_SERVICES
    assert union["oneOf"] == [{"$ref": ref} for ref in mapping.values()]
    variant = _component(spec, mapping["fake.thing.lookup"])
    assert variant["properties"]["service"] == {"type": "string", "const": "fake.thing.lookup", "title": "Service"}
    assert variant["properties"]["payload"] == {"$ref": "#/components/schemas/FakeThingLookupPayload"}
    assert {"service", "applicant", "counter", "payload"} <= set(variant["required"])
    assert variant["additionalProperties"] is False


async def test_record_is_one_variant_per_service_with_its_typed_result(gateway_client: TestClient[Any, Any]) -> None:
    """The record POST answers with and GET /v1/requests/{id} returns is a oneOf by ``service`` whose variants' result
    is that service's result schema or null."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    answers = [
        spec["paths"]["/v1/requests"]["post"]["responses"]["200"],
        spec["paths"]["/v1/requests"]["post"]["responses"]["202"],
        spec["paths"]["/v1/requests/{request_id}"]["get"]["responses"]["200"],
    ]
    assert {a["content"]["application/json"]["schema"]["$ref"] for a in answers} == {
        "#/components/schemas/RequestRecord"
    }
    union = spec["components"]["schemas"]["RequestRecord"]
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "service" and set(mapping) == FAKE_SERVICES
    variant = _component(spec, mapping["fake.person.read"])
    assert variant["properties"]["service"]["const"] == "fake.person.read"
    assert variant["properties"]["result"]["anyOf"] == [
        {"$ref": "#/components/schemas/FakePersonReadResult"},
        {"type": "null"},
    ]


async def test_published_request_schema_refuses_a_payload_of_the_wrong_type(
    gateway_client: TestClient[Any, Any],
) -> None:
    """Validated against the document, a service's body passes; a payload of the wrong type or shape, or an
    unknown service, does not."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    requests = _validator(spec, "ServiceRequest")
    assert requests.is_valid(envelope())
    assert not requests.is_valid(envelope(payload={"value": 5}))
    assert not requests.is_valid(envelope(payload={"value": "x", "colour": "red"}))
    assert not requests.is_valid(envelope(payload={"count": 2}))
    assert not requests.is_valid(envelope(service="fake.thing.unknown"))


async def test_served_record_matches_its_services_variant(gateway_client: TestClient[Any, Any]) -> None:
    """A completed record from the API validates against the published record schema, and the same record with a
    result of another type does not."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    resp = await gateway_client.post(
        "/v1/requests", json=envelope(), headers={"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}
    )
    record = await resp.json()
    assert resp.status == 200 and record["status"] == "completed", record
    records = _validator(spec, "RequestRecord")
    records.validate(record)
    assert not records.is_valid({**record, "result": {"echoed": 5, "attempt": 1}})
    assert not records.is_valid({**record, "result": {"attempt": 1}})


def test_without_services_the_envelope_stays_generic_and_valid() -> None:
    """A gateway with no service publishes the plain envelope (no empty oneOf) and the document is still valid."""
    spec = build_openapi([])
    validate(spec)
    assert spec["components"]["schemas"]["ServiceRequest"]["properties"]["payload"]["type"] == "object"
    assert "oneOf" not in spec["components"]["schemas"]["RequestRecord"]


class _Hours(BaseModel):
    opens: dt.time
    closes: dt.time | None = None


def test_times_are_published_as_pydantic_writes_them() -> None:
    """A service's ``datetime.time`` is published as what pydantic writes, a time with or without an offset, not as
    JSON Schema's ``time`` format (whose offset is required), so a naive office hour conforms to the document."""
    service = Service(
        id="fake.office.hours",
        title=LocalizedText(id="Jam kantor", en="Office hours"),
        kind=ServiceKind.LOOKUP,
        personal_data=False,
        payload_model=_Hours,
        result_model=_Hours,
    )
    spec = build_openapi([service])
    validate(spec)
    for name in ("FakeOfficeHoursPayload", "FakeOfficeHoursResult"):
        checker = Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": spec["components"]},
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        checker.validate(_Hours(opens=dt.time(8), closes=dt.time(15, 30)).model_dump(mode="json"))
        checker.validate(_Hours(opens=dt.time(8, tzinfo=dt.UTC)).model_dump(mode="json"))
        checker.validate({"opens": "08:00:00.250+07:00"})
        assert not checker.is_valid({"opens": "8 o'clock"})
        assert not checker.is_valid({"opens": "24:00:00"})


async def test_docs_page_is_self_contained(gateway_client: TestClient[Any, Any]) -> None:
    """/docs is one HTML page with every operation and no external scripts or styles."""
    resp = await gateway_client.get("/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert "/v1/requests" in page and "fake.thing.lookup" in page and "/problems/consent-required" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_openapi_command_describes_every_installed_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    """``mpp-gateway openapi`` builds every installed adapter, even one that checks its settings' form."""
    from adapters import discover_factories
    from gateway.cli import main

    assert main(["openapi"]) == 0
    spec = json.loads(capsys.readouterr().out)
    agencies = {service.split(".", 1)[0] for service in spec["x-service-payloads"]}
    assert agencies == set(discover_factories()) and "imigrasi" in agencies
    for union in ("ServiceRequest", "RequestRecord"):
        assert set(spec["components"]["schemas"][union]["discriminator"]["mapping"]) == set(spec["x-service-payloads"])
