"""adapters.dukcapil.services: the catalog entries."""

from __future__ import annotations

from adapters.dukcapil.mapping import WIRE_FIELDS, VerifyPayload, VerifyResult
from adapters.dukcapil.record import CivilRecord, NikLookupPayload
from adapters.dukcapil.services import NIK_LOOKUP, SERVICES, VERIFY
from contracts import ServiceKind


def test_verify_is_a_lookup_without_personal_data() -> None:
    """Verification is a lookup whose result carries no personal data, so it needs no consent."""
    assert VERIFY.id == "dukcapil.nik.verify"
    assert VERIFY.agency == "dukcapil"
    assert VERIFY.kind is ServiceKind.LOOKUP
    assert VERIFY.personal_data is False
    assert (VERIFY.payload_model, VERIFY.result_model) == (VerifyPayload, VerifyResult)


def test_services_lists_verify_and_lookup() -> None:
    """The adapter offers verification and data retrieval, in that order."""
    assert SERVICES == (VERIFY, NIK_LOOKUP)


def test_lookup_is_a_lookup_of_personal_data() -> None:
    """Data retrieval is a lookup that returns personal data, so the gateway requires consent."""
    assert NIK_LOOKUP.id == "dukcapil.nik.lookup"
    assert NIK_LOOKUP.kind is ServiceKind.LOOKUP
    assert NIK_LOOKUP.personal_data is True
    assert (NIK_LOOKUP.payload_model, NIK_LOOKUP.result_model) == (NikLookupPayload, CivilRecord)
    descriptor = NIK_LOOKUP.descriptor()
    assert descriptor.title.id == "Ambil data kependudukan (NIK)"
    assert descriptor.title.en == "Retrieve population record (NIK)"
    assert descriptor.payload_schema["additionalProperties"] is False
    assert descriptor.payload_schema.get("properties", {}) == {}


def test_record_schema_marks_personal_fields() -> None:
    """The record's fields about the person are marked x-personal-data; the duplicate flag is not."""
    properties = CivilRecord.model_json_schema()["properties"]
    marked = {name for name, schema in properties.items() if _personal(schema)}
    assert {"nik", "family_card_number", "full_name", "birth_date", "sex", "religion", "mother_name"} <= marked
    assert "duplicate_record" not in marked


def test_descriptor_carries_both_languages_and_schemas() -> None:
    """The catalog entry has Indonesian and English texts and the payload and result schemas."""
    descriptor = VERIFY.descriptor()
    assert descriptor.title.id == "Verifikasi data kependudukan (NIK)"
    assert descriptor.title.en == "Verify population data (NIK)"
    assert descriptor.description is not None
    assert set(descriptor.payload_schema["properties"]) == {*WIRE_FIELDS, "threshold"}
    assert set(descriptor.result_schema["properties"]) == {"matched", "threshold", "fields", "duplicate_record"}
    assert descriptor.payload_schema["additionalProperties"] is False


def test_payload_schema_marks_personal_fields() -> None:
    """Every field about the citizen is marked x-personal-data in the schema; the threshold is not."""
    properties = VerifyPayload.model_json_schema()["properties"]
    marked = {name for name, schema in properties.items() if _personal(schema)}
    assert marked == set(WIRE_FIELDS)


def _personal(schema: dict[str, object]) -> bool:
    if schema.get("x-personal-data") is True:
        return True
    variants = schema.get("anyOf", [])
    return isinstance(variants, list) and any(isinstance(v, dict) and v.get("x-personal-data") for v in variants)
