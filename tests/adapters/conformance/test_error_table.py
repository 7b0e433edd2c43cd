"""adapters.conformance.check_error_table: every documented code lands on None or one of the four classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected, AmbiguousOutcome, TransientAgencyError
from adapters.conformance import OUTCOME_CLASSES, check_error_table

from .kit_fake import CODES
from .kit_fake.conformance import profile


class _Both(AgencyRejected, TransientAgencyError):
    """Rejected and transient at once: the dispatcher could not tell what to do."""


class _Subclass(AgencyRejected):
    """A finer rejection: still one of the four."""


def _table(table: dict[str, Any]) -> Callable[[str], Any]:
    def classify(code: str) -> Any:
        value = table[code]
        if isinstance(value, LookupError):  # the classic: a table lookup without a default
            raise value
        return value

    return classify


def test_the_reference_table_passes() -> None:
    """Codes mapping to None, rejected, misconfigured and transient are all accepted."""
    report = check_error_table(profile(), agency="kit-fake")
    assert report.ok, report.failures
    assert report.agency == "kit-fake"


def test_every_outcome_class_and_its_subclasses_are_accepted() -> None:
    """Each of the four classes, and a subclass of exactly one, is a valid classification."""
    table = {"A": AmbiguousOutcome, "M": AgencyMisconfigured, "R": AgencyRejected, "T": TransientAgencyError,
             "S": _Subclass, "0": None}
    assert check_error_table(profile(documented_codes=tuple(table), classify=_table(table))).ok
    assert set(OUTCOME_CLASSES) == {AmbiguousOutcome, AgencyMisconfigured, AgencyRejected, TransientAgencyError}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KeyError("X9"), "classify raised KeyError"),
        (ValueError, "maps to ValueError"),
        (AgencyError, "maps to AgencyError"),
        (_Both, "maps to _Both"),
        (AgencyRejected("no", agency="kit-fake"), "returned a value of type AgencyRejected, not a class"),
        ("rejected", "returned a value of type str, not a class"),
    ],
    ids=["raises", "foreign-class", "base-class", "two-classes", "instance", "string"],
)
def test_a_bad_classification_is_reported(value: object, expected: str) -> None:
    """A code that raises or maps to anything but None or one outcome class fails, naming the code."""
    table: dict[str, Any] = {**CODES, "X9": value}
    report = check_error_table(profile(documented_codes=tuple(table), classify=_table(table)))
    assert [(f.check, f.subject) for f in report.failures] == [("error-table.classify", "'X9'")]
    assert expected in report.failures[0].detail


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"documented_codes": ()}, "error-table.codes"),
        ({"documented_codes": ("E00", "E01", "E01")}, "error-table.codes"),
        ({"classify": None}, "error-table.classify"),
    ],
    ids=["no-codes", "duplicate-code", "no-classify"],
)
def test_an_incomplete_table_is_reported(changes: dict[str, Any], check: str) -> None:
    """A profile without codes, with a code twice, or without classify fails."""
    report = check_error_table(profile(**changes))
    assert report.checks() == {check}


def test_reports_are_named_after_their_part() -> None:
    """Each part's report carries the part's name as PARTS spells it, so failures read the same everywhere."""
    from adapters.conformance import PARTS, check_catalog

    assert (check_catalog(profile()).part, check_error_table(profile()).part) == PARTS[:2]
