"""adapters.conformance's public surface: a name that appears or disappears must be announced here."""

from __future__ import annotations

import adapters.conformance

EXPECTED = {
    "BATTERY_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "MANIFEST_KEYS",
    "MIN_SECRET_LENGTH",
    "OUTCOME_CLASSES",
    "PARTS",
    "QUALITY_RULES",
    "SCENARIOS",
    "UNEXEMPTABLE_RULES",
    "BatteryReport",
    "CapturedLogs",
    "ConformanceFailure",
    "ConformanceProfile",
    "Failure",
    "HostileAgency",
    "InstalledAdapter",
    "Report",
    "SampleCall",
    "Scenario",
    "ScenarioOutcome",
    "base_path",
    "check_catalog",
    "check_error_table",
    "check_package_files",
    "conformance_params",
    "conformance_tests",
    "installed_adapters",
    "run_hostile_battery",
}


def test_public_names() -> None:
    """adapters.conformance.__all__ is exactly the announced set, and every name in it exists."""
    assert set(adapters.conformance.__all__) == EXPECTED
    assert all(hasattr(adapters.conformance, name) for name in adapters.conformance.__all__)


def test_scenario_names_are_unique_and_cover_the_brief() -> None:
    """The battery stages each failure mode once, by a stable name that reports and docs refer to."""
    names = [scenario.name for scenario in adapters.conformance.SCENARIOS]
    assert len(names) == len(set(names))
    assert set(names) == {
        "connection-refused", "connect-timeout", "http-500", "http-502", "http-503-retry-after", "http-429",
        "read-timeout", "reset-mid-body", "empty-200", "html-200", "html-502", "plain-text-200", "truncated-json",
        "oversized-body", "slow-drip",
    }
