"""/openapi.json and /docs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from gateway.http import HTTP_STATUS_SLUGS


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


async def test_openapi_carries_each_service_payload_schema(gateway_client: TestClient[Any, Any]) -> None:
    """Each service's payload and result schemas are components of the document."""
    spec = await (await gateway_client.get("/openapi.json")).json()
    assert "FakeThingLookupPayload" in spec["components"]["schemas"]
    assert "FakePersonReadResult" in spec["components"]["schemas"]


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
