"""How the project's own tests read a kit report."""

from __future__ import annotations

from adapters.conformance import Report


def assert_conformant(report: Report) -> None:
    """Pass a clean report; fail with every finding otherwise."""
    report.assert_ok()
