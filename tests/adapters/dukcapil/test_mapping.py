"""adapters.dukcapil.mapping: the payload model, the wire fields, and the reading of verdicts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from adapters import AgencyProtocolError, ContractError
from adapters.dukcapil.mapping import (
    WIRE_FIELDS,
    FieldMatch,
    VerifyPayload,
    VerifyResult,
    parse_match,
    parse_verify,
    verify_fields,
)
from tests import fixtures

from ._support import NIK

KK = "3201012301150003"


def full_payload() -> VerifyPayload:
    """A payload with every field given."""
    return VerifyPayload(
        full_name="  Siti   Aminah ",
        birth_place="Bandung",
        birth_date=dt.date(1990, 8, 7),
        sex="female",
        family_card_number=KK,
        mother_name="Dewi Lestari",
        address="Jl. Merdeka No. 5",
        rt="003",
        rw="12",
        province_name="Jawa Barat",
        regency_name="Kota Bandung",
        district_name="Sumur Bandung",
        village_name="Braga",
        threshold=90,
    )


def test_wire_fields_cover_every_payload_field() -> None:
    """Every payload field but the threshold has a wire key, and no wire key lacks a field."""
    assert set(WIRE_FIELDS) == set(VerifyPayload.model_fields) - {"threshold"}


@pytest.mark.parametrize("data", [{}, {"threshold": 90}])
def test_payload_needs_at_least_one_field(data: dict[str, Any]) -> None:
    """A payload with nothing to verify is refused with a message saying so."""
    with pytest.raises(ValidationError, match="at least one field to verify is required"):
        VerifyPayload.model_validate(data)


def test_payload_defaults_the_threshold_to_80() -> None:
    """Without a threshold the cut-off is 80."""
    assert VerifyPayload(full_name="Siti").threshold == 80


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"full_name": "Siti", "nik": NIK}, id="extra-field"),
        pytest.param({"full_name": ""}, id="empty-name"),
        pytest.param({"full_name": "   "}, id="blank-name"),
        pytest.param({"full_name": "x" * 101}, id="name-too-long"),
        pytest.param({"address": "x" * 201}, id="address-too-long"),
        pytest.param({"birth_place": "x" * 61}, id="place-too-long"),
        pytest.param({"full_name": "Siti\nAminah"}, id="control-character"),
        pytest.param({"rt": "1234"}, id="rt-four-digits"),
        pytest.param({"rw": "1a"}, id="rw-not-digits"),
        pytest.param({"rt": ""}, id="rt-empty"),
        pytest.param({"sex": "M"}, id="sex-not-male-or-female"),
        pytest.param({"birth_date": "1899-12-31"}, id="birth-before-1900"),
        pytest.param({"birth_date": "07-08-1990"}, id="birth-date-wire-format"),
        pytest.param({"family_card_number": "123"}, id="kk-short"),
        pytest.param({"family_card_number": "0001012301150003"}, id="kk-bad-province"),
        pytest.param({"full_name": "Siti", "threshold": 101}, id="threshold-over-100"),
        pytest.param({"full_name": "Siti", "threshold": -1}, id="threshold-negative"),
    ],
)
def test_payload_refuses_bad_values(data: dict[str, Any]) -> None:
    """Out-of-contract values are refused by the payload model."""
    with pytest.raises(ValidationError):
        VerifyPayload.model_validate(data)


def test_full_payload_goes_on_the_wire_under_dukcapil_keys() -> None:
    """Every field maps to its wire key, with TGL_LHR as dd-mm-yyyy, TRESHOLD as a string and text upper-cased."""
    assert verify_fields(NIK, full_payload()) == {
        "NIK": NIK,
        "TRESHOLD": "90",
        "NAMA_LGKP": "SITI AMINAH",
        "TMPT_LHR": "BANDUNG",
        "TGL_LHR": "07-08-1990",
        "JENIS_KLMIN": "PEREMPUAN",
        "NO_KK": KK,
        "NAMA_LGKP_IBU": "DEWI LESTARI",
        "ALAMAT": "JL. MERDEKA NO. 5",
        "NO_RT": "3",
        "NO_RW": "12",
        "PROP_NAME": "JAWA BARAT",
        "KAB_NAME": "KOTA BANDUNG",
        "KEC_NAME": "SUMUR BANDUNG",
        "KEL_NAME": "BRAGA",
    }


def test_only_submitted_fields_go_on_the_wire() -> None:
    """Fields left out of the payload are left out of the body."""
    payload = VerifyPayload(full_name="Siti", birth_date=dt.date(1905, 1, 2))
    assert verify_fields(NIK, payload) == {
        "NIK": NIK,
        "TRESHOLD": "80",
        "NAMA_LGKP": "SITI",
        "TGL_LHR": "02-01-1905",
    }


@pytest.mark.parametrize(("sex", "wire"), [("male", "LAKI-LAKI"), ("female", "PEREMPUAN")])
def test_sex_is_sent_in_dukcapil_words(sex: str, wire: str) -> None:
    """male and female become LAKI-LAKI and PEREMPUAN."""
    assert verify_fields(NIK, VerifyPayload.model_validate({"sex": sex}))["JENIS_KLMIN"] == wire


@pytest.mark.parametrize(("given", "wire"), [("0", "0"), ("007", "7"), ("10", "10"), ("100", "100")])
def test_rt_loses_leading_zeros(given: str, wire: str) -> None:
    """RT numbers go as Dukcapil stores them, without leading zeros."""
    assert verify_fields(NIK, VerifyPayload(rt=given))["NO_RT"] == wire


# The NIK in fullwidth digits: str.isdigit() accepts them, the wire must not.
FULLWIDTH_NIK = "".join(chr(0xFF10 + int(digit)) for digit in NIK)


@pytest.mark.parametrize("nik", ["", "320101470890000", "32010147089000011", "3201O14708900001", FULLWIDTH_NIK])
def test_nik_must_be_sixteen_ascii_digits(nik: str) -> None:
    """A NIK that cannot be a NIK is a contract error, and the error does not repeat it."""
    with pytest.raises(ContractError) as caught:
        verify_fields(nik, VerifyPayload(full_name="Siti"))
    assert caught.value.detail == "the applicant's NIK must be 16 digits"


@pytest.mark.parametrize(
    ("value", "match", "score"),
    [
        ("Sesuai", True, 100),
        ("Sesuai (92)", True, 92),
        ("Sesuai(92)", True, 92),
        ("sesuai ( 92 )", True, 92),
        ("SESUAI (100)", True, 100),
        ("Sesuai (0)", True, 0),
        ("Sesuai (92.5)", True, 92),
        (" Sesuai ", True, 100),
        ("Tidak Sesuai", False, 0),
        ("tidak  sesuai", False, 0),
        ("Tidak Sesuai (45)", False, 45),
    ],
)
def test_verdicts_are_read_into_match_and_score(value: str, match: bool, score: int) -> None:
    """'Sesuai' is 100, 'Sesuai (N)' is N, 'Tidak Sesuai' is 0, whatever the spacing or case."""
    assert parse_match(value, field="NAMA_LGKP") == FieldMatch(match=match, score=score)


@pytest.mark.parametrize(
    "value", ["", "Ya", "Tidak", "Sesuai 92", "Sesuai (101)", "Sesuai (abc)", "Sesuai (-1)", None, 100, True]
)
def test_unexpected_verdict_is_a_protocol_error_naming_the_key_not_the_value(value: object) -> None:
    """Anything but a known verdict is a reply the adapter cannot read: final, naming method and key, not the value."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_match(value, field="NAMA_LGKP")
    error = caught.value
    assert (error.agency, error.method, error.field) == ("dukcapil", "CALL_VERIFY_BY_ELEMEN", "NAMA_LGKP")
    assert error.detail == (
        "dukcapil answered CALL_VERIFY_BY_ELEMEN with a reply whose 'NAMA_LGKP' the adapter cannot read"
    )
    assert error.__cause__ is None and error.__context__ is None


@pytest.mark.parametrize("key", [*WIRE_FIELDS.values(), "NIK"])
def test_an_unreadable_verdict_in_a_reply_names_its_wire_key(key: str) -> None:
    """The verdict that cannot be read is named by its wire key (the NIK's too), and its value is not repeated."""
    payload = full_payload()
    content = {"NIK": "Sesuai", **{WIRE_FIELDS[field]: "Sesuai" for field in payload.submitted()}}
    content[key] = "Mungkin (SITI AMINAH)"
    with pytest.raises(AgencyProtocolError) as caught:
        parse_verify(content, payload)
    assert (caught.value.method, caught.value.field) == ("CALL_VERIFY_BY_ELEMEN", key)
    assert "Mungkin" not in str(caught.value) and "SITI" not in str(caught.value)


def test_recorded_full_match() -> None:
    """A reply where everything matches gives matched, with each field's score."""
    payload = VerifyPayload(
        full_name="Siti Aminah",
        birth_place="Bandung",
        birth_date=dt.date(1990, 8, 7),
        sex="female",
        family_card_number=KK,
        mother_name="Dewi Lestari",
    )
    result = parse_verify(fixtures.load("dukcapil", "verify_match")["content"][0], payload)
    assert result == VerifyResult(
        matched=True,
        threshold=80,
        fields={
            "full_name": FieldMatch(match=True, score=100),
            "birth_place": FieldMatch(match=True, score=95),
            "birth_date": FieldMatch(match=True, score=100),
            "sex": FieldMatch(match=True, score=100),
            "family_card_number": FieldMatch(match=True, score=100),
            "mother_name": FieldMatch(match=True, score=88),
        },
        duplicate_record=False,
    )


def test_recorded_partial_mismatch() -> None:
    """One field that does not match makes the whole verification unmatched, and says which."""
    payload = VerifyPayload(
        full_name="Siti", birth_date=dt.date(1990, 8, 7), address="Jl. Braga 1", rt="3", rw="9", village_name="Braga"
    )
    result = parse_verify(fixtures.load("dukcapil", "verify_mismatch")["content"][0], payload)
    assert result.matched is False
    assert result.fields["address"] == FieldMatch(match=False, score=0)
    assert result.fields["rw"] == FieldMatch(match=False, score=0)
    assert result.fields["full_name"] == FieldMatch(match=True, score=92)
    assert result.fields["village_name"] == FieldMatch(match=True, score=81)


def test_recorded_duplicate_is_flagged() -> None:
    """Code 12 is a success whose result carries duplicate_record."""
    payload = VerifyPayload(full_name="Siti", birth_date=dt.date(1990, 8, 7))
    result = parse_verify(fixtures.load("dukcapil", "verify_duplicate")["content"][0], payload)
    assert result.duplicate_record is True
    assert result.matched is True


def test_missing_verdict_fails_closed() -> None:
    """A submitted field the reply does not mention counts as not matched with score 0."""
    payload = VerifyPayload(full_name="Siti", address="Jl. Braga 1")
    result = parse_verify({"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (99)"}, payload)
    assert result.fields == {
        "full_name": FieldMatch(match=True, score=99),
        "address": FieldMatch(match=False, score=0),
    }
    assert result.matched is False


@pytest.mark.parametrize("content", [{}, {"quotaLimiter": 100}, {"RESPONSE_CODE": "01", "NO_PROP": "Sesuai"}])
def test_reply_without_any_verdict_is_a_protocol_error(content: dict[str, Any]) -> None:
    """A reply that mentions neither the NIK nor any submitted field is not a verification answer: final."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_verify(content, VerifyPayload(full_name="Siti"))
    assert (caught.value.method, caught.value.field) == ("CALL_VERIFY_BY_ELEMEN", "NIK")
    assert caught.value.detail == (
        "dukcapil answered CALL_VERIFY_BY_ELEMEN without a verdict on the NIK or on any submitted field"
    )


def test_nik_mismatch_unmatches_the_result() -> None:
    """'Tidak Sesuai' on the NIK itself makes the result unmatched even if every field matched."""
    result = parse_verify({"NIK": "Tidak Sesuai", "NAMA_LGKP": "Sesuai"}, VerifyPayload(full_name="Siti"))
    assert result.matched is False
    assert result.fields == {"full_name": FieldMatch(match=True, score=100)}


def test_unsubmitted_verdicts_are_ignored() -> None:
    """Verdicts on fields we did not submit, even unreadable ones, neither appear nor fail the parse."""
    content = {"NIK": "Sesuai", "NAMA_LGKP": "Sesuai", "NO_PROP": "???", "ALAMAT": "Tidak Sesuai"}
    result = parse_verify(content, VerifyPayload(full_name="Siti"))
    assert result.fields == {"full_name": FieldMatch(match=True, score=100)}
    assert result.matched is True


def test_result_threshold_is_the_payloads() -> None:
    """The result states the cut-off the caller asked for."""
    result = parse_verify({"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (91)"}, VerifyPayload(full_name="Siti", threshold=90))
    assert result.threshold == 90


def test_result_round_trips_through_json() -> None:
    """The result survives the dispatcher's JSON dump and a re-validation unchanged."""
    result = parse_verify(fixtures.load("dukcapil", "verify_duplicate")["content"][0], VerifyPayload(full_name="Siti"))
    assert VerifyResult.model_validate(result.model_dump(mode="json")) == result
