"""adapters/bpjs_ketenagakerjaan manifest.json, quality.yaml and conformance.py, and its tests/fixtures: metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

import adapters.bpjs_ketenagakerjaan as package
from adapters import AdapterContext, AgencyHttp
from adapters.bpjs_ketenagakerjaan import REQUIRED_SETTINGS, BpjsKetenagakerjaanAdapter
from adapters.bpjs_ketenagakerjaan.conformance import PROFILE
from adapters.bpjs_ketenagakerjaan.errors import RESULT_CODES
from adapters.conformance import check_package_files
from tests import fixtures

FILES = resources.files("adapters.bpjs_ketenagakerjaan")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FILES.joinpath("manifest.json").read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, dict[str, str]]:
    rules: dict[str, dict[str, str]] = yaml.safe_load(FILES.joinpath("quality.yaml").read_text("utf-8"))["rules"]
    return rules


def test_package_files_pass_the_conformance_kit() -> None:
    """manifest.json and quality.yaml pass the kit's package-files check: keys, services, settings, rules."""
    check_package_files(BpjsKetenagakerjaanAdapter, PROFILE).assert_ok()


def test_the_invented_wire_format_is_declared_loudly() -> None:
    """Manifest, package docstring and quality list all say the wire format is the project's own."""
    manifest = _manifest()
    assert manifest["wire_format_is_the_projects_own"] is True
    assert manifest["protocol"]["source"].startswith("NONE PUBLIC")
    assert manifest["modelled"][0].startswith("EVERYTHING ON THE WIRE")
    assert "THE WIRE FORMAT IS THE PROJECT'S OWN" in (package.__doc__ or "")
    assert _rules()["wire-format-labelled-as-invented"]["status"] == "done"


def test_manifest_settings_are_the_required_ones_and_secret() -> None:
    """The manifest lists exactly the adapter's settings with their variables; the API key is secret."""
    settings = _manifest()["settings"]
    assert [s["name"] for s in settings] == list(REQUIRED_SETTINGS)
    assert [s["env"] for s in settings] == ["MPP_AGENCY__BPJS_KETENAGAKERJAAN__API_KEY"]
    assert all(s["secret"] for s in settings)


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
        "submission-reference",
        "consent-for-personal-data",
    ],
)
def test_quality_core_rules_are_done(rule: str) -> None:
    """The rules a built-in adapter with a submission must meet are done, not exempted."""
    assert _rules()[rule]["status"] == "done"


def test_fixtures_are_envelopes() -> None:
    """Every fixture is the envelope: a known two-digit kode, a text, and a data member."""
    for name in fixtures.names("bpjs_ketenagakerjaan"):
        document = fixtures.load("bpjs_ketenagakerjaan", name)
        assert document["kode"] in RESULT_CODES, name
        assert isinstance(document["pesan"], str), name
        assert "data" in document, name


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no BPJS Ketenagakerjaan fixture"):
        fixtures.raw("bpjs_ketenagakerjaan", "nothing_here")


def test_recorded_fixtures_live_with_the_tests_not_in_the_package() -> None:
    """The recorded-fixtures rule and the manifest point at the fixtures under tests/; the package ships none."""
    assert _rules()["recorded-fixtures"]["status"] == "done"
    assert "tests/fixtures/bpjs_ketenagakerjaan/" in _rules()["recorded-fixtures"]["comment"]
    assert _manifest()["fixtures"].startswith("tests/fixtures/bpjs_ketenagakerjaan ")
    assert (fixtures.ROOT / "bpjs_ketenagakerjaan").is_dir()
    assert not FILES.joinpath("fixtures").is_dir()


def test_conformance_profile_builds_the_adapter_and_covers_every_service(http: AgencyHttp) -> None:
    """The profile's factory and settings build the adapter, its samples validate, it knows every code."""
    adapter = PROFILE.factory(AdapterContext(http=http, settings=PROFILE.settings))
    services = {service.id: service for service in adapter.services()}
    assert [sample.service for sample in PROFILE.samples] == list(services)
    for sample in PROFILE.samples:
        services[sample.service].payload_model.model_validate(sample.payload)
    assert set(PROFILE.documented_codes) == set(RESULT_CODES)
    assert PROFILE.classify is not None
    assert all(PROFILE.classify(code) is RESULT_CODES[code].error for code in RESULT_CODES)
    assert PROFILE.secret_settings == ("api_key",)
