"""adapters.oss.services: the catalog entries and the personal-data markings of their schemas."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.oss import LicenseIssuePayload, LicenseStatusUpdatePayload, NibInquiryResult
from adapters.oss.services import LICENSE_ISSUE, LICENSE_STATUS, LICENSE_STATUS_UPDATE, NIB_CHECK, NIB_INQUIRY, SERVICES
from contracts import ServiceKind

EXPECTED = {
    "oss.nib.inquiry": (ServiceKind.LOOKUP, True),
    "oss.nib.check": (ServiceKind.LOOKUP, False),
    "oss.license.status": (ServiceKind.LOOKUP, False),
    "oss.license.status-update": (ServiceKind.SUBMISSION, False),
    "oss.license.issue": (ServiceKind.SUBMISSION, False),
}


def test_services_are_the_five_with_their_kind_and_consent() -> None:
    """Three lookups and two submissions; only the inquiry, which names people, needs consent."""
    assert SERVICES == (NIB_INQUIRY, NIB_CHECK, LICENSE_STATUS, LICENSE_STATUS_UPDATE, LICENSE_ISSUE)
    assert {s.id: (s.kind, s.personal_data) for s in SERVICES} == EXPECTED
    assert all(s.agency == "oss" for s in SERVICES)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_descriptor_has_both_languages_and_strict_schemas(service: Any) -> None:
    """Each catalog entry has Indonesian and English texts, and payload schemas refuse unknown fields."""
    descriptor = service.descriptor()
    assert descriptor.title.id and descriptor.title.en and descriptor.title.id != descriptor.title.en
    assert descriptor.description is not None
    assert descriptor.payload_schema["additionalProperties"] is False
    assert descriptor.result_schema["properties"]


def test_kbli_schema_is_a_five_digit_string() -> None:
    """The catalog tells counters that kbli is a string of five digits, not a number."""
    project = NibInquiryResult.model_json_schema()["$defs"]["Project"]["properties"]["kbli"]
    assert {"type": "string", "pattern": "^[0-9]{5}$"} in project["anyOf"]


def _marked(schema: dict[str, Any]) -> set[str]:
    return {
        name
        for name, prop in schema.get("properties", {}).items()
        if prop.get("x-personal-data") or any(v.get("x-personal-data") for v in prop.get("anyOf", []))
    }


def test_personal_fields_are_marked() -> None:
    """Names and identity numbers carry x-personal-data; identifiers of businesses and permits do not."""
    inquiry = NibInquiryResult.model_json_schema()
    assert _marked(inquiry["$defs"]["ResponsiblePerson"]) == {"name", "identity_number"}
    assert _marked(LicenseStatusUpdatePayload.model_json_schema()) == {"officer_name"}
    assert _marked(LicenseIssuePayload.model_json_schema()) == {"signer_name"}
