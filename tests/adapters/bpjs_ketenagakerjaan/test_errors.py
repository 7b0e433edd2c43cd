"""adapters.bpjs_ketenagakerjaan.errors: the result-code table and raise_for_code."""

from __future__ import annotations

import pytest

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected, TransientAgencyError
from adapters.bpjs_ketenagakerjaan.errors import PROBLEM_TYPES, RESULT_CODES, raise_for_code

# Written out, not derived from the table, so that a change to the table has to be made here too.
EXPECTED: dict[str, tuple[type[AgencyError] | None, str | None]] = {
    "00": (None, None),
    "10": (None, None),
    "11": (AgencyRejected, "bpjstk-nik-not-verified"),
    "12": (AgencyRejected, "bpjstk-registration-not-found"),
    "13": (AgencyRejected, "bpjstk-nik-not-verified"),
    "14": (AgencyRejected, "bpjstk-nik-not-verified"),
    "20": (AgencyRejected, "bpjstk-already-registered"),
    "30": (AgencyRejected, "bpjstk-registration-invalid"),
    "31": (AgencyRejected, "bpjstk-not-eligible"),
    "21": (AgencyMisconfigured, None),
    "39": (AgencyMisconfigured, None),
    "40": (AgencyMisconfigured, None),
    "41": (AgencyMisconfigured, None),
    "42": (AgencyMisconfigured, None),
    "50": (TransientAgencyError, None),
    "51": (TransientAgencyError, None),
}
FAILURES = sorted(code for code, (error, _) in EXPECTED.items() if error is not None)


def test_table_holds_exactly_the_codes_of_the_format() -> None:
    """The table knows every code of the format and no other."""
    assert set(RESULT_CODES) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_table_entry_class_and_slug(code: str) -> None:
    """Each code's entry has the documented class and slug, and a short English detail."""
    entry = RESULT_CODES[code]
    assert (entry.error, entry.slug) == EXPECTED[code]
    assert entry.detail.isascii()
    assert entry.detail


@pytest.mark.parametrize("code", ["00", "10"])
def test_answers_that_are_not_failures_return_quietly(code: str) -> None:
    """Success and "not a participant" raise nothing."""
    raise_for_code(code)


@pytest.mark.parametrize("code", FAILURES)
def test_each_failure_raises_its_class_with_the_code(code: str) -> None:
    """raise_for_code raises the table's class, carrying the code, the slug and the code in the detail."""
    error, slug = EXPECTED[code]
    assert error is not None
    with pytest.raises(AgencyError) as caught:
        raise_for_code(code)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.agency == "bpjs-ketenagakerjaan"
    assert f"(kode {code})" in caught.value.detail
    if slug is not None:
        assert isinstance(caught.value, AgencyRejected)
        assert caught.value.slug == slug


@pytest.mark.parametrize(("code", "sent"), [("50", True), ("51", False)])
def test_transient_codes_say_whether_the_agency_acted(code: str, sent: bool) -> None:
    """After 50 a registration may exist (sent); 51 says nothing was done (unsent, safe to resend)."""
    with pytest.raises(TransientAgencyError) as caught:
        raise_for_code(code, retry_after=4.0)
    assert (caught.value.sent, caught.value.retry_after) == (sent, 4.0)


def test_refused_fields_are_named_in_the_detail() -> None:
    """Code 30's detail lists the refused contract fields."""
    with pytest.raises(AgencyRejected, match=r"phone, address\.rt \(kode 30\)"):
        raise_for_code("30", fields=("phone", "address.rt"))


@pytest.mark.parametrize(("code", "echoed"), [("77", "77"), ("ZZ", "ZZ"), ("<script>", None), ("x" * 20, None)])
def test_unknown_code_needs_a_human(code: str, echoed: str | None) -> None:
    """An unknown code is misconfigured; it is echoed only when it looks like a code."""
    with pytest.raises(AgencyMisconfigured, match="add it to the adapter's table") as caught:
        raise_for_code(code)
    assert caught.value.code == echoed
    if echoed is None:
        assert code not in caught.value.detail


def test_every_rejection_slug_has_a_problem_type() -> None:
    """Each slug the table uses is declared once as a problem type, with titles in both languages."""
    declared = [kind.slug for kind in PROBLEM_TYPES]
    assert len(declared) == len(set(declared))
    used = {entry.slug for entry in RESULT_CODES.values() if entry.slug is not None}
    assert used == set(declared)
    for kind in PROBLEM_TYPES:
        assert kind.slug.startswith("bpjstk-")
        assert kind.title.id and kind.title.en and kind.description
        assert 400 <= kind.status < 500
