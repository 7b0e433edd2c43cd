"""adapters.dukcapil.errors: Dukcapil's RESPONSE_CODE table and raise_for_content."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected
from adapters.dukcapil.errors import RESPONSE_CODES, SUCCESS_CODES, raise_for_content, response_code
from tests import fixtures

from ._support import NIK

# Written out, not derived from the table, so that a change to the table has to be made here too.
EXPECTED: dict[str, tuple[type[AgencyError] | None, str | None]] = {
    "01": (None, None),
    "12": (None, None),
    "11": (AgencyRejected, "nik-deceased"),
    "13": (AgencyRejected, "nik-not-found"),
    "14": (AgencyRejected, "nik-inactive"),
    "15": (AgencyRejected, "nik-invalid-format"),
    "08": (AgencyRejected, "nik-unprocessable"),
    "03": (AgencyMisconfigured, None),
    "04": (AgencyMisconfigured, None),
    "09": (AgencyMisconfigured, None),
    "10": (AgencyMisconfigured, None),
    "16": (AgencyMisconfigured, None),
    "17": (AgencyMisconfigured, None),
    "05": (AgencyMisconfigured, None),
    "06": (AgencyMisconfigured, None),
    "07": (AgencyMisconfigured, None),
}
FAILURES = sorted(code for code, (error, _) in EXPECTED.items() if error is not None)
CODE_FIXTURES = [name for name in fixtures.names("dukcapil") if name.startswith("code_")]


def test_table_holds_exactly_the_documented_codes() -> None:
    """The table knows every code of the protocol and no other."""
    assert set(RESPONSE_CODES) == set(EXPECTED)
    assert {"01", "12"} == SUCCESS_CODES


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_table_entry_class_and_slug(code: str) -> None:
    """Each code's table entry has the documented class and slug, and an English detail."""
    entry = RESPONSE_CODES[code]
    assert (entry.error, entry.slug) == EXPECTED[code]
    assert entry.detail.isascii()
    assert entry.detail


@pytest.mark.parametrize("code", FAILURES)
@pytest.mark.parametrize("text_key", ["RESPONSE", "RESPON", "RESPONSE_DESC"])
def test_failure_code_raises_its_class_with_slug_and_code(code: str, text_key: str) -> None:
    """A failure code raises its class, with the slug for identity outcomes and the code on the error."""
    error, slug = EXPECTED[code]
    assert error is not None
    with pytest.raises(error) as caught:
        raise_for_content({"RESPONSE_CODE": code, text_key: "Pesan Dari Dukcapil"})
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.agency == "dukcapil"
    assert f"RESPONSE_CODE {code}" in caught.value.detail
    if slug is not None:
        assert isinstance(caught.value, AgencyRejected)
        assert caught.value.slug == slug


@pytest.mark.parametrize("code", ["01", "12"])
def test_success_codes_raise_nothing(code: str) -> None:
    """01 and 12 are successes: raise_for_content returns quietly."""
    raise_for_content({"RESPONSE_CODE": code, "RESPONSE": "Data Ditemukan", "NIK": "Sesuai"})


def test_a_verification_reply_without_a_code_is_a_success() -> None:
    """The verification reply carries verdicts and no code at all: nothing is raised."""
    raise_for_content(fixtures.load("dukcapil", "verify_match")["content"][0])


@pytest.mark.parametrize("name", CODE_FIXTURES)
def test_each_recorded_failure_raises_the_class_of_its_code(name: str) -> None:
    """Every recorded failure reply raises the class its code names, whatever text key it uses."""
    code = name.split("_")[1]
    error, slug = EXPECTED[code]
    assert error is not None
    with pytest.raises(error) as caught:
        raise_for_content(fixtures.load("dukcapil", name)["content"][0])
    assert caught.value.code == code
    if slug is not None:
        assert isinstance(caught.value, AgencyRejected)
        assert caught.value.slug == slug


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, "01"), ("1", "01"), (" 13 ", "13"), (13, "13"), ("05", "05"), ("", None), (None, None)],
)
def test_response_code_is_normalised(raw: object, expected: str | None) -> None:
    """Integers, missing zeros and spaces normalise to the table's two-digit form; empty means no code."""
    assert response_code({"RESPONSE_CODE": raw}) == expected


@pytest.mark.parametrize(
    "content",
    [
        {"RESPON": "Data Tidak Ditemukan"},
        {"RESPON": "  data tidak   ditemukan "},
        {"RESPONSE": "DATA TIDAK DITEMUKAN"},
        {"RESPONSE_DESC": "Data Tidak Ditemukan"},
        {"RESPONSE_CODE": "", "RESPON": "Data Tidak Ditemukan"},
    ],
)
def test_respon_without_code_means_not_found(content: dict[str, Any]) -> None:
    """The bare 'Data Tidak Ditemukan' answer, in any key or casing, is the not-found outcome (13)."""
    with pytest.raises(AgencyRejected) as caught:
        raise_for_content(content)
    assert caught.value.slug == "nik-not-found"
    assert caught.value.code == "13"


def test_recorded_respon_only_not_found() -> None:
    """The recorded RESPON-only reply is not found."""
    with pytest.raises(AgencyRejected, match="not in Dukcapil's population database"):
        raise_for_content(fixtures.load("dukcapil", "not_found_respon")["content"][0])


@pytest.mark.parametrize("code", ["99", "02", "18", "A1"])
def test_unknown_code_is_misconfigured_and_named(code: str) -> None:
    """An unknown code needs a human: AgencyMisconfigured, with the code in the detail and on the error."""
    with pytest.raises(AgencyMisconfigured) as caught:
        raise_for_content({"RESPONSE_CODE": code, "RESPONSE": "Kode Baru"})
    assert code in caught.value.detail
    assert caught.value.code == code


@pytest.mark.parametrize("code", ["<script>alert(1)</script>", "13; DROP", True, 13.0, ["13"]])
def test_malformed_code_is_misconfigured_and_not_echoed(code: object) -> None:
    """A code that is not a short identifier is reported as malformed, never copied into the detail."""
    with pytest.raises(AgencyMisconfigured, match="malformed") as caught:
        raise_for_content({"RESPONSE_CODE": code})
    assert caught.value.code is None
    assert "script" not in caught.value.detail


def test_unrecognised_lone_message_is_misconfigured() -> None:
    """A reply that is only a message we cannot read is not guessed at: AgencyMisconfigured."""
    with pytest.raises(AgencyMisconfigured) as caught:
        raise_for_content({"RESPON": "Server Sedang Sibuk"})
    assert "Sibuk" not in caught.value.detail


def test_agency_text_is_never_copied_into_the_detail() -> None:
    """The agency's own text may name the citizen, so only our English detail is used."""
    text = f"NIK {NIK} a.n. BUDI SANTOSO Meninggal Dunia"
    with pytest.raises(AgencyRejected) as caught:
        raise_for_content({"RESPONSE_CODE": "11", "RESPONSE": text})
    assert NIK not in str(caught.value)
    assert "BUDI" not in str(caught.value)
