"""The error-table check: every code the agency documents has a place among our four outcome classes."""

from __future__ import annotations

from collections import Counter

from .._errors import AgencyMisconfigured, AgencyRejected, AmbiguousOutcome, TransientAgencyError
from ._profile import ConformanceProfile
from ._report import Failure, Report

__all__ = ["OUTCOME_CLASSES", "check_error_table"]

OUTCOME_CLASSES = (TransientAgencyError, AgencyRejected, AmbiguousOutcome, AgencyMisconfigured)
"""What ``classify`` may answer for a failure code (subclasses included): the classes the dispatcher acts on."""


def check_error_table(profile: ConformanceProfile, *, agency: str = "") -> Report:
    """Check that ``profile.classify`` places every documented code: ``None`` or one outcome class, never raising."""
    failures: list[Failure] = []
    codes = list(profile.documented_codes)
    if not codes:
        failures.append(Failure("error-table.codes", "documented_codes", "empty: list every code the agency names"))
    for code, count in sorted(Counter(codes).items()):
        if count > 1:
            failures.append(Failure("error-table.codes", repr(code), f"listed {count} times"))
    classify = profile.classify
    if classify is None:
        if codes:
            failures.append(Failure("error-table.classify", "classify", "missing: the codes cannot be checked"))
        return Report("error-table", agency, tuple(failures))
    for code in dict.fromkeys(codes):
        try:
            result = classify(code)
        except Exception as exc:
            failures.append(Failure("error-table.classify", repr(code), f"classify raised {type(exc).__name__}"))
            continue
        if result is None:
            continue
        if not isinstance(result, type):
            detail = f"returned a value of type {type(result).__name__}, not a class"
            failures.append(Failure("error-table.classify", repr(code), detail))
        elif sum(issubclass(result, kind) for kind in OUTCOME_CLASSES) != 1:
            failures.append(
                Failure(
                    "error-table.classify",
                    repr(code),
                    f"maps to {result.__name__}, which is not exactly one of "
                    + ", ".join(kind.__name__ for kind in OUTCOME_CLASSES),
                )
            )
    return Report("error-table", agency, tuple(failures))
