"""Generated requests for every operation of /openapi.json never get a 5xx, nor an answer the document does not
describe (status, content type, headers, body schema, problem+json included)."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings

from tests.schema._live import ALL_SERVICES_KEY, CHECKS, LiveGateway, offline_document

# Collection needs the operations before any fixture runs (schemathesis' lazy `from_fixture` loader would defer
# it, but it reads a pytest node attribute that pytest 9.2 no longer has), so the document is built here without a
# server; the first test proves the running gateway serves exactly this document.
DOCUMENT = offline_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict({"seed": 2026}))


def test_the_fuzzed_document_is_the_one_served(live: LiveGateway) -> None:
    """GET /openapi.json of the running gateway is the document the generated cases come from."""
    served = httpx.get(f"{live.url}/openapi.json", timeout=10).json()
    assert served == DOCUMENT


# Bounded and reproducible: 25 fuzzed cases per operation on top of the examples and coverage phases, one fixed
# seed. Health checks are off because every example is a real HTTP round trip, which they read as slowness.
@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case[Any], live: LiveGateway) -> None:
    """Any generated call, valid or not, gets a documented, schema-conforming answer and never a 5xx."""
    case.call_and_validate(
        base_url=live.url, headers={"Authorization": f"Bearer {ALL_SERVICES_KEY}"}, checks=CHECKS, timeout=10
    )
