"""adapters.oss.errors: the kode table, kode normalisation, the 400 slug decision and raise_for_reply."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import AgencyError, AgencyMisconfigured, AgencyProtocolError, AgencyRejected, TransientAgencyError
from adapters.oss import OssAdapter
from adapters.oss.errors import (
    DATA_NOT_FOUND,
    INVALID_DATA,
    KODES,
    PROBLEM_TYPES,
    classify,
    kode_of,
    missing_fields,
    raise_for_reply,
    rejection_slug,
)
from tests import fixtures

# Written out, not derived from the table, so that a change to the table has to be made here too.
EXPECTED: dict[str, type[AgencyError] | None] = {
    "200": None,
    "400": AgencyRejected,
    "401": AgencyMisconfigured,
    "403": AgencyMisconfigured,
    "404": AgencyMisconfigured,
    "405": AgencyMisconfigured,
    "500": TransientAgencyError,
    "504": TransientAgencyError,
}


def test_table_is_exactly_the_documented_codes() -> None:
    """The table holds every kode the guide documents, and no other."""
    assert {code: entry.error for code, entry in KODES.items()} == EXPECTED


@pytest.mark.parametrize(("code", "error"), EXPECTED.items())
@pytest.mark.parametrize("as_int", [True, False], ids=["number", "string"])
def test_each_kode_raises_its_class(code: str, error: type[AgencyError] | None, as_int: bool) -> None:
    """Each kode, sent as a number or a string, raises its class with the code and an English detail."""
    reply = {"kode": int(code) if as_int else code, "keterangan": "Data NIB tidak ditemukan"}
    if error is None:
        raise_for_reply(reply, method="inqueryNIB", submission=False)
        return
    with pytest.raises(error) as caught:
        raise_for_reply(reply, method="inqueryNIB", submission=False)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.agency == "oss"
    assert f"kode {code}" in caught.value.detail
    assert "tidak ditemukan" not in caught.value.detail


@pytest.mark.parametrize("code", ["500", "504"])
def test_transient_kodes_say_the_call_was_sent(code: str) -> None:
    """500 and 504 reached OSS: a submission must be reconciled, so sent is true."""
    with pytest.raises(TransientAgencyError) as caught:
        raise_for_reply({"kode": code}, method="receiveLicense", submission=True)
    assert caught.value.sent is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(200, "200"), ("200", "200"), (" 400 ", "400"), (None, None), (True, "(malformed)"), ("OK", "(malformed)"),
     (200.5, "(malformed)"), ([], "(malformed)"), ("12345", "(malformed)")],
)
def test_kode_of_normalises(raw: Any, expected: str | None) -> None:
    """kode_of reads numbers and digit strings; anything else is malformed; absence is None."""
    reply = {} if raw is None else {"kode": raw}
    assert kode_of(reply) == expected


@pytest.mark.parametrize("raw", [302, "201", "999"])
def test_unknown_kode_is_misconfigured_and_named(raw: Any) -> None:
    """A kode the table does not know needs a human: misconfigured, with the code."""
    with pytest.raises(AgencyMisconfigured, match="unknown kode") as caught:
        raise_for_reply({"kode": raw}, method="checkNIB", submission=False)
    assert caught.value.code == str(raw)


@pytest.mark.parametrize("raw", ["Sukses", True, {"x": 1}])
def test_malformed_kode_is_misconfigured_without_echo(raw: Any) -> None:
    """A kode that is not a code is misconfigured, and its value is not echoed."""
    with pytest.raises(AgencyMisconfigured) as caught:
        raise_for_reply({"kode": raw}, method="checkNIB", submission=False)
    assert caught.value.code is None
    assert "Sukses" not in caught.value.detail


def test_missing_kode_is_a_protocol_error() -> None:
    """An envelope without a kode is a reply the adapter cannot read: final, naming the method and 'kode'."""
    with pytest.raises(AgencyProtocolError) as caught:
        raise_for_reply({"keterangan": "Sukses"}, method="checkNIB", submission=False)
    assert (caught.value.method, caught.value.field) == ("checkNIB", "kode")


@pytest.mark.parametrize("submission", [False, True])
def test_a_400_listing_required_fields_is_invalid_data(submission: bool) -> None:
    """The guide's missing-parameter 400 ("parameter tidak ditemukan" + meta) is invalid data, never not-found."""
    reply = {"kode": 400, "keterangan": "parameter tidak ditemukan",
             "meta": [{"message": "nib is required", "field": "nib"}, {"message": "x", "field": "bad field!"}]}
    assert rejection_slug(reply, submission=submission) == INVALID_DATA
    assert missing_fields(reply) == ["nib"]
    with pytest.raises(AgencyRejected) as caught:
        raise_for_reply(reply, method="checkNIB", submission=submission)
    assert caught.value.detail.endswith("required and missing: nib")


@pytest.mark.parametrize(
    ("text", "submission", "slug"),
    [
        ("Data NIB tidak ditemukan", False, DATA_NOT_FOUND),
        ("Data izin tidak ditemukan", True, DATA_NOT_FOUND),
        ("NIB tidak terdaftar", False, DATA_NOT_FOUND),
        ("Kode status izin tidak valid", True, INVALID_DATA),
        ("Parameter nib tidak valid", False, INVALID_DATA),
        ("Data izin tidak sesuai", True, INVALID_DATA),
        ("Parameter kd_izin wajib diisi", True, INVALID_DATA),
        ("Data Parameter Salah", False, INVALID_DATA),
        ("", False, DATA_NOT_FOUND),
        ("", True, INVALID_DATA),
        (None, True, INVALID_DATA),
    ],
)
def test_rejection_slug_reads_the_text_then_the_kind(text: str | None, submission: bool, slug: str) -> None:
    """A 400 is not-found or invalid-data by the text's hint, else by whether the call was a submission."""
    reply: dict[str, Any] = {"kode": 400}
    if text is not None:
        reply["keterangan"] = text
    assert rejection_slug(reply, submission=submission) == slug


@pytest.mark.parametrize(
    ("name", "submission", "slug"),
    [
        ("kode_400_nib_not_found", False, DATA_NOT_FOUND),
        ("kode_400_permit_not_found", True, DATA_NOT_FOUND),
        ("kode_400_invalid_status", True, INVALID_DATA),
    ],
)
def test_recorded_rejections_get_their_slug(name: str, submission: bool, slug: str) -> None:
    """The recorded 400 replies raise AgencyRejected with the slug their text implies."""
    document = fixtures.load("oss", name)
    (method_key, reply), = document.items()
    with pytest.raises(AgencyRejected) as caught:
        raise_for_reply(reply, method=method_key.removeprefix("respon"), submission=submission)
    assert caught.value.slug == slug


def test_problem_types_cover_every_slug_and_are_the_adapters() -> None:
    """The adapter declares exactly the slugs its rejections use, with both languages."""
    assert {kind.slug for kind in PROBLEM_TYPES} == {DATA_NOT_FOUND, INVALID_DATA}
    assert OssAdapter.problem_types == PROBLEM_TYPES
    assert all(kind.title.id and kind.title.en and kind.status == 422 for kind in PROBLEM_TYPES)


@pytest.mark.parametrize(("code", "error"), [*EXPECTED.items(), ("302", AgencyMisconfigured)])
def test_classify_is_the_tables_reading(code: str, error: type[AgencyError] | None) -> None:
    """classify gives each documented code's class and misconfigured for an unknown one."""
    assert classify(code) is error
