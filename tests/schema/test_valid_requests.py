"""Generated requests that satisfy every service's own payload schema reach the agency mocks, and what comes
back (a finished record, an accepted one, or a problem) is still exactly what /openapi.json describes."""

from __future__ import annotations

import collections
import copy
import itertools
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import consent_given_at
from tests.schema._live import ALL_SERVICES_KEY, CHECKS, LiveGateway, offline_document

_REF = "#/components/schemas/{}"


def valid_requests_document(document: dict[str, Any], service_id: str, niks: list[str]) -> dict[str, Any]:
    """``document`` narrowed to ``POST /v1/requests`` with bodies valid for ``service_id``.

    The published body schema is typed per service but cannot state every NIK rule, so generating from it alone
    almost never gets past validation. Here the body is the service's id, a real or structurally valid NIK,
    consent, and the service's payload schema. Responses are the published ones, untouched (each record typed by
    its service's result schema), so the checks judge the gateway by the real document.
    """
    derived = copy.deepcopy(document)
    operation = derived["paths"]["/v1/requests"]["post"]
    # A consent is accepted only while it is valid, a rule of time a schema cannot state: it is dated now.
    consent = copy.deepcopy(document["components"]["schemas"]["Consent"])
    consent["properties"]["given_at"] = {"const": consent_given_at()}
    operation["requestBody"]["content"]["application/json"]["schema"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["service", "applicant", "counter", "consent", "payload"],
        "properties": {
            "service": {"const": service_id},
            "applicant": {
                "type": "object",
                "additionalProperties": False,
                "required": ["nik"],
                "properties": {"nik": {"enum": niks}},
            },
            "counter": {"$ref": _REF.format("Counter")},
            "consent": consent,
            "payload": document["x-service-payloads"][service_id],
        },
    }
    derived["paths"] = {"/v1/requests": {"post": operation}}
    return derived


def test_valid_requests_reach_the_agencies_and_conform(live: LiveGateway) -> None:
    """Schema-valid requests across the services come back from the mocks as records, and every answer conforms."""
    assert live.cluster is not None
    population = live.cluster.population
    niks = [c.nik for c in population.sample(status="active", duplicate=False, limit=6)] + [population.unknown_nik()]
    document = offline_document()
    config = schemathesis.Config.from_dict({"seed": 2026})
    # One strategy per service, drawn from evenly: a oneOf over the bodies would favour the simplest payloads.
    per_service = [
        schemathesis.openapi.from_dict(valid_requests_document(document, service_id, niks), config=config)[
            "/v1/requests"
        ]["POST"].as_strategy(headers={"Prefer": "wait=1"})
        for service_id in sorted(document["x-service-payloads"])
    ]
    statuses: collections.Counter[int] = collections.Counter()
    services: set[str] = set()
    outcomes: collections.Counter[str] = collections.Counter()
    keys = itertools.count()

    @given(case=st.one_of(per_service))
    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def exercise(case: schemathesis.Case[Any]) -> None:
        # Submissions need a key, and a fresh one per case: generated keys repeat, and a key reused for another
        # body is (rightly) refused before the agency is asked.
        headers = {"Authorization": f"Bearer {ALL_SERVICES_KEY}", "Idempotency-Key": f"valid-{next(keys)}"}
        response = case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS, timeout=10)
        statuses[response.status_code] += 1
        if response.status_code in (200, 202):
            body: dict[str, Any] = case.body  # type: ignore[assignment]  # the derived schema makes it an object
            services.add(body["service"])
            outcomes[response.json()["status"]] += 1

    exercise()
    # Some generated payloads break rules a JSON Schema cannot state (service dates before JKN, phone formats):
    # those are 422s, still checked; the rest must have gone to the agencies and back.
    assert statuses[200] + statuses[202] >= 20, statuses
    assert len(services) >= 6, services
    assert outcomes["completed"] >= 3 and outcomes["rejected"] >= 1, outcomes
