"""adapters/oss/manifest.json, quality.yaml and fixtures/: the integration's declared metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters.oss import REQUIRED_SETTINGS, SERVICES, OssAdapter, fixtures
from adapters.oss.mapping import CHECK_LICENSE_STATUS, CHECK_NIB, INQUIRY_NIB, RECEIVE_LICENSE, RECEIVE_LICENSE_STATUS

PACKAGE = resources.files("adapters.oss")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGE.joinpath("manifest.json").read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, dict[str, str]]:
    rules: dict[str, dict[str, str]] = yaml.safe_load(PACKAGE.joinpath("quality.yaml").read_text("utf-8"))["rules"]
    return rules


def test_manifest_agrees_with_the_adapter() -> None:
    """The manifest's agency, name, services, methods and consent flags are the adapter's."""
    manifest = _manifest()
    assert (manifest["agency"], manifest["name"]) == (OssAdapter.agency, OssAdapter.agency_name)
    assert manifest["owner"] == "MPP Integration Gateway team"
    methods = [INQUIRY_NIB, CHECK_NIB, CHECK_LICENSE_STATUS, RECEIVE_LICENSE_STATUS, RECEIVE_LICENSE]
    assert [(s["id"], s["method"]) for s in manifest["services"]] == [
        (s.id, m.name) for s, m in zip(SERVICES, methods, strict=True)
    ]
    assert [s["personal_data"] for s in manifest["services"]] == [s.personal_data for s in SERVICES]
    assert [s["kind"] for s in manifest["services"]] == [s.kind.value for s in SERVICES]


def test_manifest_states_source_what_is_modelled_and_the_resend_decision() -> None:
    """The manifest names the guide, separates real from modelled, and documents how resends stay safe."""
    manifest = _manifest()
    assert "PIA OSS RBA" in manifest["protocol"]["source"]
    assert manifest["real"] and manifest["limitations"]
    assert any("X-MPP-Reference" in item and "checkLicenseStatus" in item for item in manifest["modelled"])


def test_manifest_settings_and_secrets() -> None:
    """The required settings come first; user_key and the inbound password are secret; env names follow the rule."""
    settings = _manifest()["settings"]
    assert [s["name"] for s in settings][: len(REQUIRED_SETTINGS)] == list(REQUIRED_SETTINGS)
    assert all(s["env"] == f"MPP_AGENCY__OSS__{s['name'].upper()}" for s in settings)
    assert {s["name"] for s in settings if s["secret"]} == {"user_key", "inbound_password"}


def test_quality_rules_are_done_or_exempt_with_a_reason() -> None:
    """Every quality rule is done or exempt, and says why or where."""
    for name, rule in _rules().items():
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
        "reconciliation",
        "kbli-leading-zeros",
    ],
)
def test_quality_core_rules_are_done(rule: str) -> None:
    """The rules every built-in adapter must meet, and OSS's own, are done."""
    assert _rules()[rule]["status"] == "done"


def test_fixtures_are_package_data_with_one_envelope() -> None:
    """Every fixture loads through the package and is one respon<method> envelope with a kode."""
    for name in fixtures.names():
        document = fixtures.load(name)
        assert len(document) == 1, name
        ((key, inner),) = document.items()
        assert key.startswith("respon"), name
        assert "kode" in inner, name


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no OSS fixture"):
        fixtures.raw("inquiry_nothing")
