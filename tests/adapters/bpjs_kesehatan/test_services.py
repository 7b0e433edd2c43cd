"""adapters.bpjs_kesehatan.services: the catalog entries."""

from __future__ import annotations

import pytest

from adapters.bpjs_kesehatan import BY_CARD, BY_NIK, SERVICES, ByCardPayload, ByNikPayload, Participant
from contracts import ServiceKind


def test_the_two_lookups_in_order() -> None:
    """The adapter offers the NIK lookup and the card lookup, in that order."""
    assert [service.id for service in SERVICES] == ["bpjs-kesehatan.peserta.by-nik", "bpjs-kesehatan.peserta.by-card"]
    assert (BY_NIK.payload_model, BY_CARD.payload_model) == (ByNikPayload, ByCardPayload)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_each_is_a_personal_data_lookup_of_the_agency(service: object) -> None:
    """Both are lookups answered while the citizen waits, return personal data (consent), and belong to BPJS."""
    from adapters import Service

    assert isinstance(service, Service)
    assert service.kind is ServiceKind.LOOKUP
    assert service.personal_data is True
    assert service.agency == "bpjs-kesehatan"
    assert service.result_model is Participant
    assert service.title.id and service.title.en and service.title.id != service.title.en
    assert service.description is not None and service.description.id and service.description.en


def test_titles() -> None:
    """The catalog titles, in Indonesian and English."""
    assert (BY_NIK.title.id, BY_NIK.title.en) == (
        "Cek kepesertaan BPJS Kesehatan (NIK)",
        "BPJS Kesehatan membership check (NIK)",
    )
    assert BY_CARD.title.en == "BPJS Kesehatan membership check (card number)"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_descriptors_carry_json_schemas(service: object) -> None:
    """The catalog descriptor holds payload and result schemas a counter can render a form from."""
    from adapters import Service

    assert isinstance(service, Service)
    descriptor = service.descriptor()
    assert "service_date" in descriptor.payload_schema["required"]
    assert {"card_number", "status", "care_class"} <= set(descriptor.result_schema["properties"])
