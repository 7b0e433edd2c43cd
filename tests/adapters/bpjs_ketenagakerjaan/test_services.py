"""adapters.bpjs_ketenagakerjaan.services: the catalog entries."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import Service
from adapters.bpjs_ketenagakerjaan import (
    REGISTER,
    SERVICES,
    STATUS,
    VERIFY,
    MembershipPayload,
    MembershipResult,
    RegisterPayload,
    RegistrationResult,
    StatusPayload,
)
from contracts import ServiceKind


@pytest.mark.parametrize(
    ("service", "service_id", "kind", "payload", "result"),
    [
        (VERIFY, "bpjs-ketenagakerjaan.peserta.verify", ServiceKind.LOOKUP, MembershipPayload, MembershipResult),
        (
            REGISTER,
            "bpjs-ketenagakerjaan.peserta.register",
            ServiceKind.SUBMISSION,
            RegisterPayload,
            RegistrationResult,
        ),
        (STATUS, "bpjs-ketenagakerjaan.peserta.status", ServiceKind.LOOKUP, StatusPayload, RegistrationResult),
    ],
)
def test_service_entries(
    service: Service[Any, Any], service_id: str, kind: ServiceKind, payload: type, result: type
) -> None:
    """Each service has its id, kind and models, touches personal data, and is titled in both languages."""
    assert (service.id, service.kind, service.payload_model, service.result_model) == (
        service_id,
        kind,
        payload,
        result,
    )
    assert service.agency == "bpjs-ketenagakerjaan"
    assert service.personal_data is True
    descriptor = service.descriptor()
    assert descriptor.title.id and descriptor.title.en
    assert descriptor.description is not None
    assert descriptor.payload_schema["additionalProperties"] is False


def test_services_lists_all_three_in_order() -> None:
    """The adapter offers the lookup, the registration and the status enquiry."""
    assert SERVICES == (VERIFY, REGISTER, STATUS)


def test_personal_fields_are_marked_in_the_schemas() -> None:
    """Phone, e-mail, street and KPJ are marked x-personal-data; the programme choice is not."""
    payload = RegisterPayload.model_json_schema()
    assert payload["properties"]["phone"]["x-personal-data"] is True
    assert payload["$defs"]["Address"]["properties"]["street"]["x-personal-data"] is True
    assert "x-personal-data" not in payload["properties"]["programmes"]
    assert RegistrationResult.model_json_schema()["properties"]["kpj"]["x-personal-data"] is True
    assert MembershipResult.model_json_schema()["properties"]["kpj"]["x-personal-data"] is True
