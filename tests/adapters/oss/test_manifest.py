"""adapters/oss/manifest.json and quality.yaml, and the recorded replies in tests/fixtures/oss: declared metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters.conformance import check_package_files
from adapters.oss import REQUIRED_SETTINGS, SERVICES, OssAdapter
from adapters.oss.conformance import PROFILE
from adapters.oss.mapping import CHECK_LICENSE_STATUS, CHECK_NIB, INQUIRY_NIB, RECEIVE_LICENSE, RECEIVE_LICENSE_STATUS
from tests import fixtures

PACKAGE = resources.files("adapters.oss")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGE.joinpath("manifest.json").read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, dict[str, str]]:
    rules: dict[str, dict[str, str]] = yaml.safe_load(PACKAGE.joinpath("quality.yaml").read_text("utf-8"))["rules"]
    return rules


def test_package_files_pass_the_conformance_kit() -> None:
    """manifest.json and quality.yaml pass the kit's package-files check: keys, services, settings, rules."""
    check_package_files(OssAdapter, PROFILE).assert_ok()


def test_manifest_names_the_owner_and_the_wire_methods() -> None:
    """The built-in adapter is the team's, and each service names the OSS method it calls."""
    manifest = _manifest()
    assert manifest["owner"] == "MPP Integration Gateway team"
    methods = [INQUIRY_NIB, CHECK_NIB, CHECK_LICENSE_STATUS, RECEIVE_LICENSE_STATUS, RECEIVE_LICENSE]
    assert [(s["id"], s["method"]) for s in manifest["services"]] == [
        (s.id, m.name) for s, m in zip(SERVICES, methods, strict=True)
    ]


def test_manifest_states_source_what_is_modelled_and_the_resend_decision() -> None:
    """The manifest names the guide, separates real from modelled, and documents how resends stay safe."""
    manifest = _manifest()
    assert "PIA OSS RBA" in manifest["protocol"]["source"]
    assert manifest["real"] and manifest["limitations"]
    assert any("X-MPP-Reference" in item and "checkLicenseStatus" in item for item in manifest["modelled"])


def test_manifest_settings_and_secrets() -> None:
    """The required settings come first; user_key and the inbound password are secret."""
    settings = _manifest()["settings"]
    assert [s["name"] for s in settings][: len(REQUIRED_SETTINGS)] == list(REQUIRED_SETTINGS)
    assert {s["name"] for s in settings if s["secret"]} == {"user_key", "inbound_password"}


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
        "reconciliation",
        "kbli-leading-zeros",
    ],
)
def test_quality_core_rules_are_done(rule: str) -> None:
    """The rules every built-in adapter must meet, and OSS's own, are done."""
    assert _rules()[rule]["status"] == "done"


def test_fixtures_are_one_envelope_each() -> None:
    """Every fixture loads through tests.fixtures and is one respon<method> envelope with a kode."""
    for name in fixtures.names("oss"):
        document = fixtures.load("oss", name)
        assert len(document) == 1, name
        ((key, inner),) = document.items()
        assert key.startswith("respon"), name
        assert "kode" in inner, name


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no OSS fixture"):
        fixtures.raw("oss", "inquiry_nothing")


def test_recorded_fixtures_live_with_the_tests_not_in_the_package() -> None:
    """The recorded-fixtures rule and the manifest point at the fixtures under tests/; the package ships none."""
    assert _rules()["recorded-fixtures"]["status"] == "done"
    assert "tests/fixtures/oss/" in _rules()["recorded-fixtures"]["comment"]
    assert _manifest()["fixtures"].startswith("tests/fixtures/oss ")
    assert (fixtures.ROOT / "oss").is_dir()
    assert not PACKAGE.joinpath("fixtures").is_dir()
