"""adapters.oss.codes: KBLI and risk normalisation, and the code lists."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from adapters.oss.codes import PERMIT_STATUSES, RISK_LEVELS, PermitStatusCode, normalise_kbli, normalise_risk


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01112", "01112"),
        ("47111", "47111"),
        (" 56101 ", "56101"),
        (1112, "01112"),
        ("1112", "01112"),
        (3111, "03111"),
        (56101, "56101"),
        ("", None),
        ("0111A", None),
        ("011123", None),
        (123456, None),
        (True, None),
        (None, None),
        (1112.0, None),
    ],
)
def test_kbli_is_five_characters_with_leading_zeros(raw: Any, expected: str | None) -> None:
    """KBLI codes come back as five-character strings; numbers and shortened digits get their zeros back."""
    assert normalise_kbli(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("R", "R"),
        ("mr", "MR"),
        (" MT ", "MT"),
        ("T", "T"),
        ("Rendah", "R"),
        ("MENENGAH  RENDAH", "MR"),
        ("menengah tinggi", "MT"),
        ("Tinggi", "T"),
        ("sedang", None),
        ("", None),
        (1, None),
    ],
)
def test_risk_reads_codes_and_indonesian_names(raw: Any, expected: str | None) -> None:
    """The risk class is read from its code or its Indonesian name, any case and spacing."""
    assert normalise_risk(raw) == expected


def test_status_literal_and_table_agree() -> None:
    """Every status code the payloads accept has an English label, and the other way round."""
    assert set(get_args(PermitStatusCode)) == set(PERMIT_STATUSES)


def test_risk_levels_are_the_four_classes() -> None:
    """R, MR, MT and T, from low to high."""
    assert list(RISK_LEVELS.items()) == [("R", "low"), ("MR", "medium-low"), ("MT", "medium-high"), ("T", "high")]
