"""adapters.bpjs_kesehatan.mapping: payload validation, request paths, and the participant read from the wire."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from adapters import AgencyProtocolError, ContractError
from adapters.bpjs_kesehatan import ByCardPayload, ByNikPayload, Participant
from adapters.bpjs_kesehatan.mapping import BY_CARD_METHOD, by_card_path, by_nik_path, parse_participant
from tests import fixtures

from ._support import CARD, NIK, SERVICE_DATE, assert_no_secrets


def _fullwidth(digits: str) -> str:
    """The same digits in their full-width forms, which str.isdigit() accepts and the wire must not."""
    return "".join(chr(0xFF10 + int(digit)) for digit in digits)


_FULLWIDTH_CARD = _fullwidth(CARD)
_FULLWIDTH_NIK = _fullwidth(NIK)


def _peserta(name: str = "peserta_active") -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(fixtures.load("bpjs_kesehatan", name))
    return document


def test_by_nik_payload_needs_only_the_service_date() -> None:
    """The NIK lookup's payload is the service date, from JSON text or a date."""
    assert ByNikPayload.model_validate({"service_date": "2026-01-05"}).service_date == SERVICE_DATE


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="missing-date"),
        pytest.param({"service_date": "05-01-2026"}, id="dd-mm-yyyy"),
        pytest.param({"service_date": "2013-12-31"}, id="before-jkn"),
        pytest.param({"service_date": "2026-01-05", "nik": NIK}, id="extra-field"),
    ],
)
def test_by_nik_payload_refuses(data: dict[str, Any]) -> None:
    """No date, another date format, a date before JKN began, or an extra field is invalid."""
    with pytest.raises(ValidationError):
        ByNikPayload.model_validate(data)


@pytest.mark.parametrize(
    "card",
    [
        pytest.param("000198765432", id="12-digits"),
        pytest.param("00019876543210", id="14-digits"),
        pytest.param("000198765432A", id="letter"),
        pytest.param(" 0001987654321", id="space"),
        pytest.param(_FULLWIDTH_CARD, id="fullwidth-digits"),
    ],
)
def test_by_card_payload_needs_13_ascii_digits(card: str) -> None:
    """A card number is exactly 13 ASCII digits."""
    with pytest.raises(ValidationError):
        ByCardPayload.model_validate({"card_number": card, "service_date": "2026-01-05"})


def test_paths_carry_the_number_and_the_iso_date() -> None:
    """The paths are VClaim's, with the date as yyyy-MM-dd."""
    assert by_nik_path(NIK, SERVICE_DATE) == f"Peserta/nik/{NIK}/tglSEP/2026-01-05"
    assert by_card_path(CARD, dt.date(2026, 2, 9)) == f"Peserta/nokartu/{CARD}/tglSEP/2026-02-09"


def test_newborn_placeholder_nik_is_sent_as_it_is() -> None:
    """BPJS's 0000000000000000 placeholder goes to the agency, which judges it; nothing crashes here."""
    assert by_nik_path("0" * 16, SERVICE_DATE) == "Peserta/nik/0000000000000000/tglSEP/2026-01-05"


@pytest.mark.parametrize("nik", ["320101470890000", "32010147089000011", "3201014708/00001", _FULLWIDTH_NIK])
def test_a_nik_that_is_not_16_ascii_digits_never_reaches_the_path(nik: str) -> None:
    """The applicant's NIK is guarded before it becomes a path segment, and is not echoed."""
    with pytest.raises(ContractError) as caught:
        by_nik_path(nik, SERVICE_DATE)
    assert nik not in caught.value.detail


def test_active_participant_in_plain_english() -> None:
    """The active fixture reads into the contract: English names, real dates, male/female, active status."""
    participant = parse_participant(fixtures.load("bpjs_kesehatan", "peserta_active"), SERVICE_DATE)
    assert participant.model_dump(mode="json") == {
        "card_number": "0001987654321",
        "nik": "3273014708900003",
        "name": "RATNA DEWI LESTARI",
        "sex": "female",
        "birth_date": "1990-08-07",
        "age_at_service_years": 35,
        "status": {"code": "0", "description": "AKTIF", "active": True},
        "participant_type": {"code": "13", "description": "PEGAWAI SWASTA"},
        "care_class": {"code": "2", "description": "KELAS II"},
        "primary_care_provider": {"code": "0114U021", "name": "PUSKESMAS SUKAJADI"},
        "coverage_start": "2019-02-01",
        "coverage_end": "2027-12-31",
        "card_printed": "2019-03-11",
        "family_role_code": "2",
        "mr_number": "204518",
        "phone": "081234500017",
        "coordination_of_benefits": None,
        "information": {"social_services": None, "chronic_program": None, "sktm_number": None, "esep": None},
        "service_date": "2026-01-05",
    }


def test_deceased_participant_is_an_answer_with_inactive_status() -> None:
    """A deceased participant is read, not refused: status active is false and BPJS's label is kept."""
    participant = parse_participant(fixtures.load("bpjs_kesehatan", "peserta_deceased"), SERVICE_DATE)
    assert participant.status.model_dump() == {"code": "1", "description": "MENINGGAL", "active": False}
    assert participant.card_printed is None
    assert participant.mr_number is None
    assert participant.phone is None
    assert participant.information.sktm_number == "SKTM/0412/2023"
    assert participant.information.chronic_program == "PRB: DM"


def test_lapsed_participant_reads_with_a_null_provider() -> None:
    """Cover lapsed for unpaid premiums (status 9, provUmum nulls as captured) is an answer: no provider, not active."""
    participant = parse_participant(fixtures.load("bpjs_kesehatan", "peserta_lapsed"), SERVICE_DATE)
    dumped = participant.model_dump(mode="json")
    assert dumped["status"] == {"code": "9", "description": "NON AKTIF KARNA PREMI", "active": False}
    assert dumped["primary_care_provider"] is None
    assert dumped["participant_type"] == {"code": "14", "description": "PEKERJA MANDIRI"}
    assert dumped["care_class"] == {"code": "1", "description": "KELAS I"}
    assert (dumped["mr_number"], dumped["phone"], dumped["coordination_of_benefits"]) == (None, None, None)
    assert dumped["information"] == {"social_services": None, "chronic_program": None, "sktm_number": None,
                                     "esep": None}  # fmt: skip


def test_the_result_schema_says_which_parts_may_be_null() -> None:
    """The catalog's result schema lets provider, class and provider name be null, and nothing essential."""
    schema = Participant.model_json_schema()
    properties = schema["properties"]

    def nullable(prop: dict[str, Any]) -> bool:
        return any(option.get("type") == "null" for option in prop.get("anyOf", []))

    assert nullable(properties["primary_care_provider"]) and nullable(properties["care_class"])
    assert nullable(schema["$defs"]["Provider"]["properties"]["name"])
    assert not nullable(schema["$defs"]["Provider"]["properties"]["code"])
    for essential in ("card_number", "name", "sex", "birth_date", "status", "participant_type"):
        assert essential in schema["required"] and not nullable(properties[essential])


def test_co_insurer_and_newborn_placeholder_nik() -> None:
    """A named co-insurer is kept with its dates; the newborn placeholder NIK is passed on as it is."""
    participant = parse_participant(fixtures.load("bpjs_kesehatan", "peserta_cob"), SERVICE_DATE)
    assert participant.nik == "0000000000000000"
    assert participant.coordination_of_benefits is not None
    assert participant.coordination_of_benefits.model_dump(mode="json") == {
        "insurer_name": "ASURANSI SEHAT SENTOSA",
        "policy_number": "ASS-00912",
        "coverage_start": "2024-01-01",
        "coverage_end": "2026-12-31",
    }
    assert participant.age_at_service_years == 0


LENIENT = [
    pytest.param(lambda p: p.pop("mr"), "mr_number", None, id="no-mr"),
    pytest.param(lambda p: p.update(cob=None, informasi=None, umur=None), "coordination_of_benefits", None, id="nulls"),
    pytest.param(lambda p: p.update(nik=None), "nik", None, id="nik-null"),
    pytest.param(lambda p: p.update(nik="12345"), "nik", None, id="nik-short"),
    pytest.param(lambda p: p.update(tglTAT=""), "coverage_end", None, id="blank-date"),
    pytest.param(lambda p: p.update(pisa=1), "family_role_code", "1", id="numeric-pisa"),
    pytest.param(lambda p: p["statusPeserta"].update(kode=0), "status", None, id="numeric-status-code"),
    pytest.param(lambda p: p.update(sex="p"), "sex", "female", id="lower-case-sex"),
    pytest.param(lambda p: p["umur"].update(umurSaatPelayanan="-"), "age_at_service_years", None, id="odd-age"),
    pytest.param(lambda p: p.update(nama="  RATNA DEWI  "), "name", "RATNA DEWI", id="padded-name"),
    pytest.param(lambda p: p["provUmum"].update(kdProvider=None, nmProvider=None), "primary_care_provider", None,
                 id="provider-nulls"),
    pytest.param(lambda p: p.update(provUmum=None), "primary_care_provider", None, id="provider-null"),
    pytest.param(lambda p: p.pop("provUmum"), "primary_care_provider", None, id="no-provider"),
    pytest.param(lambda p: p["provUmum"].update(kdProvider=None), "primary_care_provider", None,
                 id="provider-name-without-code"),
    pytest.param(lambda p: p["provUmum"].pop("nmProvider"), "primary_care_provider",
                 {"code": "0114U021", "name": None}, id="provider-code-without-name"),
    pytest.param(lambda p: p.update(hakKelas=None), "care_class", None, id="class-null"),
    pytest.param(lambda p: p["hakKelas"].update(kode=None, keterangan=None), "care_class", None, id="class-nulls"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "expected"), LENIENT)
def test_optional_and_loose_fields_are_read_leniently(change: Any, field: str, expected: object) -> None:
    """Missing, null or odd optional fields do not fail the lookup; they read as None or their plain value."""
    document = _peserta()
    change(document["peserta"])
    participant = parse_participant(document, SERVICE_DATE)
    value = getattr(participant, field)
    if field == "status":
        assert value.active is True
    elif isinstance(expected, dict):
        assert value.model_dump() == expected
    else:
        assert value == expected


BROKEN = [
    pytest.param(lambda d: d.clear(), "peserta", id="no-peserta"),
    pytest.param(lambda d: d.update(peserta="RATNA"), "peserta", id="peserta-not-an-object"),
    pytest.param(lambda d: d["peserta"].pop("noKartu"), "noKartu", id="no-card"),
    pytest.param(lambda d: d["peserta"].update(noKartu="1987654321"), "noKartu", id="short-card"),
    pytest.param(lambda d: d["peserta"].update(nama=""), "nama", id="blank-name"),
    pytest.param(lambda d: d["peserta"].update(sex="X"), "sex", id="unknown-sex"),
    pytest.param(lambda d: d["peserta"].update(tglLahir=None), "tglLahir", id="no-birth-date"),
    pytest.param(lambda d: d["peserta"].update(tglLahir="07-08-1990"), "tglLahir", id="birth-date-dd-mm-yyyy"),
    pytest.param(lambda d: d["peserta"].update(tglTMT="2019-02-30"), "tglTMT", id="impossible-date"),
    pytest.param(lambda d: d["peserta"].update(tglTMT="2019-02-01T00:00"), "tglTMT", id="datetime-not-date"),
    pytest.param(lambda d: d["peserta"].pop("statusPeserta"), "statusPeserta", id="no-status"),
    pytest.param(lambda d: d["peserta"]["statusPeserta"].pop("kode"), "statusPeserta.kode", id="status-without-code"),
    pytest.param(lambda d: d["peserta"].update(jenisPeserta=None), "jenisPeserta", id="no-participant-type"),
    pytest.param(lambda d: d["peserta"].update(hakKelas="KELAS II"), "hakKelas", id="class-not-an-object"),
    pytest.param(lambda d: d["peserta"]["hakKelas"].update(keterangan=None), "hakKelas.keterangan", id="half-class"),
    pytest.param(lambda d: d["peserta"].update(provUmum="PUSKESMAS"), "provUmum", id="provider-not-an-object"),
    pytest.param(lambda d: d["peserta"].update(mr=["x"]), "mr", id="mr-not-an-object"),
    pytest.param(lambda d: d["peserta"]["cob"].update(tglTMT="soon"), "cob.tglTMT", id="bad-cob-date"),
]


@pytest.mark.parametrize(("change", "field"), BROKEN)
def test_unreadable_replies_are_protocol_errors_naming_method_and_field_not_the_value(change: Any, field: str) -> None:
    """A missing or malformed essential field is a final protocol error naming the method and the wire field."""
    document = _peserta()
    change(document)
    with pytest.raises(AgencyProtocolError) as caught:
        parse_participant(document, SERVICE_DATE, method=BY_CARD_METHOD)
    error = caught.value
    assert (error.agency, error.method, error.field) == ("bpjs-kesehatan", "Peserta/nokartu", field)
    assert f"'{field}'" in caught.value.detail and "Peserta/nokartu" in caught.value.detail
    assert_no_secrets(caught.value, "RATNA", "3273014708900003", "1990-08-07", "0001987654321", "0114U021")


@pytest.mark.parametrize("response", [None, [], "peserta", 3])
def test_a_response_that_is_not_an_object_is_a_protocol_error(response: object) -> None:
    """Anything but an object holding 'peserta' is not a participant: a protocol error on the field 'peserta'."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_participant(response, SERVICE_DATE)
    assert (caught.value.method, caught.value.field) == ("Peserta/nik", "peserta")


def test_personal_fields_are_marked_in_the_result_schema() -> None:
    """The result schema flags every field that identifies or describes the citizen."""
    properties = Participant.model_json_schema()["properties"]
    flagged = {name for name, schema in properties.items() if schema.get("x-personal-data")}
    assert flagged == {"card_number", "nik", "name", "sex", "birth_date", "mr_number", "phone"}


def test_card_number_is_flagged_in_the_payload_schema() -> None:
    """The card number a counter sends is personal data in the payload schema too."""
    schema = ByCardPayload.model_json_schema()["properties"]["card_number"]
    assert schema["x-personal-data"] is True
    assert schema["pattern"] == "^[0-9]{13}$"
