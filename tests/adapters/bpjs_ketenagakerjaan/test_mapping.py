"""adapters.bpjs_ketenagakerjaan.mapping: payload rules, the wire bodies, and the reading of replies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from adapters import AgencyProtocolError, ContractError
from adapters.bpjs_ketenagakerjaan import MembershipPayload, MembershipResult, RegisterPayload
from adapters.bpjs_ketenagakerjaan.client import Reply
from adapters.bpjs_ketenagakerjaan.mapping import (
    INCOME_BANDS,
    OCCUPATIONS,
    contract_fields,
    parse_membership,
    parse_registration,
    register_body,
    status_body,
    verify_body,
)
from tests import fixtures

from ._support import NIK, REFERENCE, REGISTER_DATA, register_payload

MEMBER_PU = fixtures.load("bpjs_ketenagakerjaan", "verify_member_pu")["data"]


def envelope(name: str) -> Reply:
    """The fixture ``name`` read as the client returns it."""
    document = fixtures.load("bpjs_ketenagakerjaan", name)
    return Reply(200, document["kode"], document["data"])


def test_membership_payload_is_empty_and_closed() -> None:
    """The lookup takes no payload fields: the NIK is the applicant's."""
    assert MembershipPayload.model_validate({}) == MembershipPayload()
    with pytest.raises(ValidationError):
        MembershipPayload.model_validate({"nik": NIK})


INVALID: list[Any] = [
    pytest.param({"programmes": ["JKK"]}, "at least 2", id="one-programme"),
    pytest.param({"programmes": ["JKK", "JHT"]}, "must take both JKK and JKM", id="no-jkm"),
    pytest.param({"programmes": ["JKM", "JHT"]}, "must take both JKK and JKM", id="no-jkk"),
    pytest.param({"programmes": ["JKK", "JKM", "JP"]}, "wage earners only", id="pension"),
    pytest.param({"programmes": ["JKK", "JKM", "JKM"]}, "must not repeat", id="repeated"),
    pytest.param({"programmes": ["JKK", "JKM", "JHT", "JP"]}, "at most 3", id="four"),
    pytest.param({"programmes": ["JKK", "JKM", "XYZ"]}, "JHT", id="unknown-programme"),
    pytest.param({"occupation": "astronaut"}, "occupation", id="unknown-occupation"),
    pytest.param({"monthly_income": "3000000"}, "monthly_income", id="income-not-a-band"),
    pytest.param({"phone": "022-4231234"}, "mobile number", id="landline"),
    pytest.param({"phone": "+1 555 0100"}, "mobile number", id="foreign"),
    pytest.param({"phone": "08123"}, "mobile number", id="too-short"),
    pytest.param({"phone": "0812345678901234"}, "mobile number", id="too-long"),
    pytest.param({"email": "not-an-address"}, "email", id="bad-email"),
    pytest.param({"address": {**REGISTER_DATA["address"], "village": " "}}, "village", id="blank-village"),
    pytest.param({"address": {**REGISTER_DATA["address"], "rt": "1234"}}, "rt", id="rt-four-digits"),
    pytest.param({"address": {**REGISTER_DATA["address"], "postal_code": "01234"}}, "postal_code", id="postal-0"),
    pytest.param({"address": {**REGISTER_DATA["address"], "street": "Jl.\nX"}}, "street", id="control-char"),
    pytest.param({"address": {**REGISTER_DATA["address"], "country": "ID"}}, "country", id="address-extra"),
    pytest.param({"kpj": "12345678901"}, "kpj", id="payload-extra"),
]


@pytest.mark.parametrize(("changes", "message"), INVALID)
def test_invalid_registrations_are_refused_with_a_reason(changes: dict[str, Any], message: str) -> None:
    """Each broken rule fails validation with a message naming it."""
    with pytest.raises(ValidationError, match=message):
        register_payload(**changes)


@pytest.mark.parametrize("phone", ["081234567890", "6281234567890", "+62 812-3456-7890", "(0812) 3456 7890"])
def test_phone_numbers_are_normalised(phone: str) -> None:
    """Every accepted way of writing a mobile number becomes +628..."""
    assert register_payload(phone=phone).phone == "+6281234567890"


def test_tables_cover_every_choice() -> None:
    """Every occupation and income band of the contract has a wire code, and the codes are distinct."""
    schema = RegisterPayload.model_json_schema()
    assert set(schema["properties"]["occupation"]["enum"]) == set(OCCUPATIONS)
    assert set(schema["properties"]["monthly_income"]["enum"]) == set(INCOME_BANDS)
    assert len(set(OCCUPATIONS.values())) == len(OCCUPATIONS)
    assert list(INCOME_BANDS.values()) == ["P1", "P2", "P3", "P4", "P5"]


def test_register_body_is_the_wire_form() -> None:
    """The body carries the reference, the NIK and every field in wire form."""
    assert register_body(NIK, REFERENCE, register_payload()) == {
        "referensi": REFERENCE,
        "nik": NIK,
        "pekerjaan": "PEDAGANG",
        "penghasilan": "P2",
        "program": ["JHT", "JKK", "JKM"],
        "no_hp": "6281234567890",
        "email": "siti@example.test",
        "alamat": {
            "jalan": "Jl. Merdeka No. 5",
            "rt": "003",
            "rw": "012",
            "kelurahan": "Braga",
            "kecamatan": "Sumur Bandung",
            "kabupaten": "Kota Bandung",
            "provinsi": "Jawa Barat",
            "kode_pos": "40111",
        },
    }


def test_register_body_is_stable_across_programme_order() -> None:
    """Two payloads that differ only in programme order give the same body, so a resend stays idempotent."""
    one = register_body(NIK, REFERENCE, register_payload(programmes=["JKK", "JKM", "JHT"]))
    two = register_body(NIK, REFERENCE, register_payload(programmes=["JHT", "JKM", "JKK"]))
    assert one == two


def test_optional_fields_left_out_or_null() -> None:
    """Without email the key is absent; without RT, RW and postal code they are null."""
    address = {k: v for k, v in REGISTER_DATA["address"].items() if k not in {"rt", "rw", "postal_code"}}
    payload = RegisterPayload.model_validate({**REGISTER_DATA, "email": None, "address": address})
    body = register_body(NIK, REFERENCE, payload)
    assert "email" not in body
    assert (body["alamat"]["rt"], body["alamat"]["rw"], body["alamat"]["kode_pos"]) == (None, None, None)


def test_lookup_and_status_bodies() -> None:
    """The lookup sends the NIK; the enquiry the reference and the NIK."""
    assert verify_body(NIK) == {"nik": NIK}
    assert status_body(NIK, REFERENCE) == {"referensi": REFERENCE, "nik": NIK}


# "3273014708900003" in full-width digits: str.isdigit() alone would accept it.
FULL_WIDTH_NIK = "".join(chr(0xFF10 + int(d)) for d in "3273014708900003")


@pytest.mark.parametrize("nik", ["", "123", "32730147089000031", "3273O14708900003", FULL_WIDTH_NIK])
def test_bad_nik_never_reaches_the_wire(nik: str) -> None:
    """A NIK that is not 16 ASCII digits is a contract error."""
    with pytest.raises(ContractError):
        verify_body(nik)


@pytest.mark.parametrize("reference", ["", "a" * 65, "req 1", "req/../x"])
def test_bad_reference_never_reaches_the_wire(reference: str) -> None:
    """A reference outside 1-64 letters, digits, '_' and '-' is a contract error."""
    with pytest.raises(ContractError):
        status_body(NIK, reference)


def test_wage_earner_membership() -> None:
    """A PU member comes back with KPJ, category, status, programmes and start date."""
    assert parse_membership(envelope("verify_member_pu")) == MembershipResult(
        member=True,
        kpj="23019487561",
        category="wage_earner",
        status="active",
        programmes=["JHT", "JKK", "JKM", "JP"],
        member_since=dt.date(2019, 3, 11),
    )


def test_lapsed_bpu_membership() -> None:
    """A lapsed BPU member is a member with status inactive."""
    result = parse_membership(envelope("verify_member_bpu_lapsed"))
    assert (result.member, result.category, result.status) == (True, "non_wage_earner", "inactive")


def test_not_a_participant_is_an_answer() -> None:
    """Code 10 is a result: not a member, nothing else."""
    assert parse_membership(envelope("verify_not_member")) == MembershipResult(member=False)


UNREADABLE: list[Any] = [
    pytest.param(None, "data", id="null"),
    pytest.param([], "data", id="list"),
    pytest.param({**MEMBER_PU, "kpj": "123"}, "data.kpj", id="short-kpj"),
    pytest.param({**MEMBER_PU, "kategori": "XX"}, "data.kategori", id="unknown-category"),
    pytest.param({**MEMBER_PU, "status": "HIDUP"}, "data.status", id="unknown-status"),
    pytest.param({**MEMBER_PU, "program": ["JHT", "PENSIUN"]}, "data.program.1", id="unknown-programme"),
    pytest.param({**MEMBER_PU, "tgl_kepesertaan": "11-03-2019"}, "data.tgl_kepesertaan", id="date-format"),
]


@pytest.mark.parametrize(("data", "field"), UNREADABLE)
def test_unreadable_membership_is_a_protocol_error_with_nothing_chained(data: object, field: str) -> None:
    """Data the adapter cannot read is final, naming path and field; no validation error (holding input) rides along."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_membership(Reply(200, "00", data))
    error = caught.value
    assert (error.agency, error.method, error.field) == ("bpjs-ketenagakerjaan", "api/v1/peserta/cek", field)
    assert error.detail == (
        f"bpjs-ketenagakerjaan answered api/v1/peserta/cek with a reply whose '{field}' the adapter cannot read"
    )
    assert error.__cause__ is None
    assert error.__context__ is None
    kept = (str(error), repr(error), *(repr(arg) for arg in error.args), repr(vars(error)))
    for value in ("123", "XX", "HIDUP", "PENSIUN", "11-03-2019", MEMBER_PU["kpj"]):
        assert not any(value in text for text in kept), value


def test_registration_is_read() -> None:
    """The registration reply becomes the result with its KPJ, contribution and payment code."""
    result = parse_registration(envelope("register_created"), REFERENCE, method="api/v1/peserta/bpu")
    assert result.kpj == "87125509314"
    assert result.reference == REFERENCE
    assert result.status == "awaiting_first_payment"
    assert result.programmes == ["JHT", "JKK", "JKM"]
    assert result.monthly_contribution == 66_800
    assert result.payment_code == "8987125509314001"
    assert result.registered_at == dt.datetime(2026, 1, 5, 9, 41, 27, tzinfo=dt.timezone(dt.timedelta(hours=7)))


@pytest.mark.parametrize("method", ["api/v1/peserta/bpu", "api/v1/peserta/bpu/status"])
def test_registration_under_another_reference_is_never_handed_on(method: str) -> None:
    """A reply about another reference than the one asked is a protocol error naming data.referensi, no reference."""
    with pytest.raises(AgencyProtocolError, match="another reference") as caught:
        parse_registration(envelope("register_created"), "req_OTHER", method=method)
    assert (caught.value.method, caught.value.field) == (method, "data.referensi")
    assert REFERENCE not in str(caught.value) and "req_OTHER" not in str(caught.value)


def test_registration_without_timezone_is_unreadable() -> None:
    """A naive registration time is unreadable: the result promises an aware one. The time is not repeated."""
    data = {**fixtures.load("bpjs_ketenagakerjaan", "register_created")["data"], "tgl_daftar": "2026-01-05T09:41:27"}
    with pytest.raises(AgencyProtocolError) as caught:
        parse_registration(Reply(200, "00", data), REFERENCE, method="api/v1/peserta/bpu/status")
    assert (caught.value.method, caught.value.field) == ("api/v1/peserta/bpu/status", "data.tgl_daftar")
    assert "09:41" not in str(caught.value) and caught.value.__context__ is None


def test_refused_wire_fields_become_contract_paths() -> None:
    """Known wire names map to contract paths, unknown ones are dropped, repeats collapse."""
    assert contract_fields(("no_hp", "alamat.rt", "foto_ktp", "no_hp", "nik")) == (
        "phone",
        "address.rt",
        "applicant.nik",
    )
