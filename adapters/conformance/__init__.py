"""The conformance kit: what every adapter, built in or third-party, must pass before the gateway loads it.

Four parts, each a plain function returning a :class:`Report`:

- :func:`check_catalog`: service ids, descriptors, JSON Schemas, bilingual titles, sample calls, problem types;
- :func:`check_error_table`: every code the agency documents maps to ``None`` or one of the four outcome classes;
- :func:`check_package_files`: the package's ``manifest.json`` agrees with the adapter, and its ``quality.yaml``
  states every rule of :data:`QUALITY_RULES`, done or exempt with a reason (as Home Assistant's hassfest does);
- :func:`run_hostile_battery`: every sample call against every :data:`SCENARIOS` entry (refused and hanging
  connections, 5xx, 429, HTML pages, garbage, truncated, huge and dripping bodies, resets) over real loopback
  sockets; each must end in a :class:`~adapters.TransientAgencyError` that says whether the request was sent,
  and no secret setting may show in an exception, the adapter's repr, or a log line.

An adapter package publishes ``<package>.conformance.PROFILE`` (a :class:`ConformanceProfile`); a test module
runs the whole kit on every installed adapter, or on the named ones, with two lines::

    from adapters.conformance import conformance_tests

    test_conformance = conformance_tests("imigrasi")

See ``docs/writing-an-adapter.md``.
"""

from ._battery import BATTERY_MAX_BODY, DEFAULT_TIMEOUT, run_hostile_battery
from ._build import base_path
from ._capture import CapturedLogs
from ._catalog import MIN_SECRET_LENGTH, check_catalog
from ._discovery import PARTS, InstalledAdapter, conformance_params, conformance_tests, installed_adapters
from ._error_table import OUTCOME_CLASSES, check_error_table
from ._package import MANIFEST_KEYS, QUALITY_RULES, UNEXEMPTABLE_RULES, check_package_files
from ._profile import ConformanceProfile, SampleCall
from ._report import BatteryReport, ConformanceFailure, Failure, Report, ScenarioOutcome
from ._scenarios import SCENARIOS, HostileAgency, Scenario

__all__ = [
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
]
