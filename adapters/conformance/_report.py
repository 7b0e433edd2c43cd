"""What the kit found: failures, one report per part, and the assertion a test raises from them."""

from __future__ import annotations

import dataclasses

__all__ = ["BatteryReport", "ConformanceFailure", "Failure", "Report", "ScenarioOutcome"]


@dataclasses.dataclass(frozen=True)
class Failure:
    """One expectation an adapter does not meet."""

    #: Which rule: ``catalog.service-id``, ``error-table.classify``, ``battery.sent``, ...
    check: str
    #: What it is about: a service id, a code, ``<scenario> <service>``.
    subject: str
    #: What was expected and what happened, in English, with no secret in it.
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.detail}"


class ConformanceFailure(AssertionError):
    """Raised by :meth:`Report.assert_ok`: an :class:`AssertionError`, so pytest shows the list as the reason."""

    def __init__(self, report: Report) -> None:
        lines = [f"{report.agency or '(unknown agency)'} fails the conformance {report.part}:"]
        lines += [f"  - {failure}" for failure in report.failures]
        super().__init__("\n".join(lines))
        self.report = report


@dataclasses.dataclass(frozen=True)
class Report:
    """The result of one part of the kit (one of ``PARTS``: catalog, error-table, hostile-battery) for one adapter."""

    part: str
    agency: str
    failures: tuple[Failure, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the adapter meets every expectation of this part."""
        return not self.failures

    def checks(self) -> set[str]:
        """The names of the rules that failed, for tests that expect a particular failure."""
        return {failure.check for failure in self.failures}

    def assert_ok(self) -> None:
        """Raise :class:`ConformanceFailure`, listing every failure, unless the report is clean."""
        if self.failures:
            raise ConformanceFailure(self)


@dataclasses.dataclass(frozen=True)
class ScenarioOutcome:
    """How the adapter ended one sample call against one hostile scenario."""

    scenario: str
    service: str
    #: Qualified name of the exception class the call raised; ``None`` when it returned an outcome.
    raised: str | None
    sent: bool | None
    retry_after: float | None
    elapsed: float


@dataclasses.dataclass(frozen=True)
class BatteryReport(Report):
    """The hostile battery's report: the failures plus what every call did, for reading when one fails."""

    outcomes: tuple[ScenarioOutcome, ...] = ()
    #: Scenarios this machine cannot stage (``connect-timeout`` needs a listener that drops handshakes), with why.
    unavailable: tuple[tuple[str, str], ...] = ()
    elapsed: float = 0.0
