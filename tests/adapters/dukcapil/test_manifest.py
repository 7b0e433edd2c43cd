"""adapters/dukcapil/manifest.json and quality.yaml, and the replies in tests/fixtures/dukcapil: declared metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters.conformance import check_package_files
from adapters.dukcapil import REQUIRED_SETTINGS, DukcapilAdapter
from adapters.dukcapil.conformance import PROFILE
from tests import fixtures

PACKAGE = resources.files("adapters.dukcapil")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGE.joinpath("manifest.json").read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(PACKAGE.joinpath("quality.yaml").read_text(encoding="utf-8"))
    rules: dict[str, dict[str, str]] = data["rules"]
    return rules


def test_package_files_pass_the_conformance_kit() -> None:
    """manifest.json and quality.yaml pass the kit's package-files check: keys, services, settings, rules."""
    check_package_files(DukcapilAdapter, PROFILE).assert_ok()


def test_manifest_names_the_owner_and_the_wire_methods() -> None:
    """The built-in adapter is the team's, and each service names the Dukcapil method it calls."""
    manifest = _manifest()
    assert manifest["owner"] == "MPP Integration Gateway team"
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
    assert {s["name"] for s in settings if s["secret"]} == {"password"}


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


def test_fixtures_have_a_content_list() -> None:
    """Every fixture loads through tests.fixtures and has Dukcapil's non-empty content list."""
    names = fixtures.names("dukcapil")
    assert {"verify_match", "verify_mismatch", "verify_duplicate", "not_found_respon"} <= set(names)
    assert {"nik_record", "nik_record_duplicate"} <= set(names)
    for name in names:
        content = fixtures.load("dukcapil", name)["content"]
        assert isinstance(content, list)
        assert content
        assert isinstance(content[0], dict)


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no Dukcapil fixture"):
        fixtures.raw("dukcapil", "verify_nothing")


def test_recorded_fixtures_live_with_the_tests_not_in_the_package() -> None:
    """The recorded-fixtures rule and the manifest point at the fixtures under tests/; the package ships none."""
    assert _rules()["recorded-fixtures"]["status"] == "done"
    assert "tests/fixtures/dukcapil/" in _rules()["recorded-fixtures"]["comment"]
    assert _manifest()["fixtures"].startswith("tests/fixtures/dukcapil ")
    assert (fixtures.ROOT / "dukcapil").is_dir()
    assert not PACKAGE.joinpath("fixtures").is_dir()
