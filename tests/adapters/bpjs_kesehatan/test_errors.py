"""adapters.bpjs_kesehatan.errors: the metaData code table and the classification of every code."""

from __future__ import annotations

import pytest

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected
from adapters.bpjs_kesehatan import BpjsKesehatanAdapter
from adapters.bpjs_kesehatan.errors import (
    DOCUMENTED_CODES,
    META_CODES,
    NOT_FOUND_SLUG,
    PROBLEM_TYPES,
    classify,
    raise_for_code,
)

TABLE = [
    pytest.param("201", AgencyRejected, NOT_FOUND_SLUG, id="201-not-found"),
    pytest.param("401", AgencyMisconfigured, None, id="401-signature"),
    pytest.param("403", AgencyMisconfigured, None, id="403-user-key"),
    pytest.param("408", AgencyMisconfigured, None, id="408-timestamp"),
]


def test_200_is_the_only_success() -> None:
    """Code 200 returns quietly and classifies as success; it is the only code that does."""
    raise_for_code("200")
    assert classify("200") is None
    assert [code for code, entry in META_CODES.items() if entry.error is None] == ["200"]


@pytest.mark.parametrize(("code", "error", "slug"), TABLE)
def test_each_code_raises_its_class_with_the_code(code: str, error: type[AgencyError], slug: str | None) -> None:
    """Every failure code raises exactly its class, carrying the agency, the code and (for rejections) the slug."""
    with pytest.raises(AgencyError) as caught:
        raise_for_code(code)
    assert type(caught.value) is error
    assert caught.value.agency == "bpjs-kesehatan"
    assert caught.value.code == code
    assert f"metaData code {code}" in caught.value.detail
    if slug is not None:
        assert isinstance(caught.value, AgencyRejected)
        assert caught.value.slug == slug
    assert classify(code) is error


def test_the_table_is_exactly_the_matrix() -> None:
    """The matrix above covers the table: a new code needs a test."""
    assert set(META_CODES) == {"200", *(param.values[0] for param in TABLE)}


@pytest.mark.parametrize(
    ("code", "echoed"),
    [("202", "202"), ("500", "500"), ("E-77", "E-77"), ("Peserta RATNA", None), ("x" * 9, None), ("", None)],
)
def test_unknown_codes_are_misconfigured_and_echoed_only_when_safe(code: str, echoed: str | None) -> None:
    """A code the table does not know needs a human; it is echoed only when it looks like a code."""
    assert classify(code) is AgencyMisconfigured
    with pytest.raises(AgencyMisconfigured) as caught:
        raise_for_code(code)
    assert caught.value.code == echoed
    if echoed is None and code:
        assert code not in caught.value.detail
    assert "add it to the adapter's table" in caught.value.detail


def test_only_200_and_201_are_documented() -> None:
    """The table marks the signature, user key and timestamp refusals as modelled, the rest as documented."""
    assert {code for code, entry in META_CODES.items() if entry.documented} == {"200", "201"}
    assert set(DOCUMENTED_CODES) == set(META_CODES)


def test_every_rejection_slug_has_a_problem_type() -> None:
    """Each slug the table raises is declared on the adapter, with Indonesian and English titles."""
    slugs = {entry.slug for entry in META_CODES.values() if entry.slug}
    assert slugs == {problem.slug for problem in PROBLEM_TYPES} == {NOT_FOUND_SLUG}
    assert BpjsKesehatanAdapter.problem_types == PROBLEM_TYPES
    problem = PROBLEM_TYPES[0]
    assert problem.status == 422
    assert problem.title.id == "Peserta BPJS Kesehatan tidak ditemukan"
    assert problem.title.en == "BPJS Kesehatan participant not found"


@pytest.mark.parametrize("code", sorted(META_CODES))
def test_details_are_english_and_name_no_agency_text(code: str) -> None:
    """Details come from the table: English, short, and never the agency's message."""
    detail = META_CODES[code].detail
    assert detail.isascii()
    assert len(detail) < 120
    assert "tidak" not in detail.lower()
