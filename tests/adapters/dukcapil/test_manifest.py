"""adapters/dukcapil/manifest.json, quality.yaml and fixtures/: the integration's declared metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters.dukcapil import REQUIRED_SETTINGS, SERVICES, DukcapilAdapter, fixtures

PACKAGE = resources.files("adapters.dukcapil")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGE.joinpath("manifest.json").read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(PACKAGE.joinpath("quality.yaml").read_text(encoding="utf-8"))
    rules: dict[str, dict[str, str]] = data["rules"]
    return rules


def test_manifest_agrees_with_the_adapter() -> None:
    """The manifest's agency, name and services are the adapter's."""
    manifest = _manifest()
    assert manifest["agency"] == DukcapilAdapter.agency
    assert manifest["name"] == DukcapilAdapter.agency_name
    assert manifest["owner"] == "MPP Integration Gateway team"
    assert [s["id"] for s in manifest["services"]] == [s.id for s in SERVICES]
    assert [s["personal_data"] for s in manifest["services"]] == [s.personal_data for s in SERVICES]
    assert [s["method"] for s in manifest["services"]] == ["CALL_VERIFY_BY_ELEMEN", "CALL_NIK"]


def test_manifest_states_its_protocol_source_and_what_is_modelled() -> None:
    """The manifest says where the protocol comes from and separates what is real from what is modelled."""
    manifest = _manifest()
    assert manifest["protocol"]["source"] == (
        "Consistent client code and mocks of several institutions; no official public specification"
    )
    assert manifest["real"]
    assert any("duplicate" in item for item in manifest["modelled"])


def test_manifest_settings_are_the_required_ones_and_only_the_password_is_secret() -> None:
    """The manifest lists exactly the settings the adapter reads, and marks the password secret."""
    settings = _manifest()["settings"]
    assert [s["name"] for s in settings] == list(REQUIRED_SETTINGS)
    assert [s["env"] for s in settings] == [f"MPP_AGENCY__DUKCAPIL__{name.upper()}" for name in REQUIRED_SETTINGS]
    assert {s["name"] for s in settings if s["secret"]} == {"password"}


def test_quality_rules_are_done_or_exempt_with_a_reason() -> None:
    """Every quality rule is done or exempt, and every rule says why or where."""
    rules = _rules()
    for name, rule in rules.items():
        assert rule["status"] in {"done", "exempt"}, name
        assert rule.get("comment"), name


@pytest.mark.parametrize(
    "rule",
    [
        "authenticates-every-call",
        "error-table-complete",
        "no-credentials-in-errors-or-logs",
        "recorded-fixtures",
        "classifies-html-error-pages",
        "body-size-limit",
        "tests-mirror-modules",
    ],
)
def test_quality_core_rules_are_done(rule: str) -> None:
    """The rules every built-in adapter must meet are done, not exempted."""
    assert _rules()[rule]["status"] == "done"


def test_fixtures_are_package_data_with_a_content_list() -> None:
    """Every fixture loads through the package and has Dukcapil's non-empty content list."""
    names = fixtures.names()
    assert {"verify_match", "verify_mismatch", "verify_duplicate", "not_found_respon"} <= set(names)
    assert {"nik_record", "nik_record_duplicate"} <= set(names)
    for name in names:
        content = fixtures.load(name)["content"]
        assert isinstance(content, list)
        assert content
        assert isinstance(content[0], dict)


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no Dukcapil fixture"):
        fixtures.raw("verify_nothing")
