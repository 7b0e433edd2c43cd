"""adapters/bpjs_kesehatan manifest.json, quality.yaml, conformance.py and tests/fixtures/bpjs_kesehatan: metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import orjson
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters import AdapterContext, AgencyHttp, Call
from adapters.bpjs_kesehatan import REQUIRED_SETTINGS, BpjsKesehatanAdapter
from adapters.bpjs_kesehatan.conformance import PROFILE
from adapters.bpjs_kesehatan.errors import META_CODES
from adapters.conformance import check_package_files
from tests import fixtures

PACKAGE = resources.files("adapters.bpjs_kesehatan")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PACKAGE.joinpath("manifest.json").read_text(encoding="utf-8"))
    return data


def _rules() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(PACKAGE.joinpath("quality.yaml").read_text(encoding="utf-8"))
    rules: dict[str, dict[str, str]] = data["rules"]
    return rules


def test_package_files_pass_the_conformance_kit() -> None:
    """manifest.json and quality.yaml pass the kit's package-files check: keys, services, settings, rules."""
    check_package_files(BpjsKesehatanAdapter, PROFILE).assert_ok()


def test_manifest_names_the_owner() -> None:
    """The built-in adapter is the team's."""
    assert _manifest()["owner"] == "MPP Integration Gateway team"


def test_manifest_separates_real_from_modelled() -> None:
    """The manifest names its sources, and says that the refusal codes and the clock skew are modelled."""
    manifest = _manifest()
    assert "docs/agencies.md" in manifest["protocol"]["source"]
    assert manifest["real"]
    modelled = " ".join(manifest["modelled"])
    assert all(code in modelled for code in ("401", "403", "408"))
    assert "skew" in modelled


def test_manifest_settings_and_their_secrets() -> None:
    """The manifest lists base_url and the required settings; the secret and the user key are secret."""
    settings = _manifest()["settings"]
    assert [s["name"] for s in settings] == ["base_url", *REQUIRED_SETTINGS]
    assert {s["name"] for s in settings if s["secret"]} == {"consumer_secret", "user_key"}


@pytest.mark.parametrize(
    "rule",
    [
        "authenticates-every-call",
        "signs-every-call",
        "error-table-complete",
        "no-credentials-in-errors-or-logs",
        "no-personal-data-in-errors",
        "recorded-fixtures",
        "classifies-html-error-pages",
        "body-size-limit",
        "tests-mirror-modules",
        "lzstring-matches-reference",
        "consent-for-personal-data",
    ],
)
def test_quality_core_rules_are_done(rule: str) -> None:
    """The rules a built-in adapter must meet are done, not exempted."""
    assert _rules()[rule]["status"] == "done"


def test_fixtures_load_and_envelopes_carry_a_known_code() -> None:
    """Every fixture loads through tests.fixtures; envelopes have metaData with a string code."""
    names = fixtures.names("bpjs_kesehatan")
    assert {"peserta_active", "peserta_deceased", "envelope_peserta_active", "lzstring_vectors"} <= set(names)
    for name in names:
        document = fixtures.load("bpjs_kesehatan", name)
        if name.startswith("envelope_"):
            assert isinstance(document["metaData"]["code"], str)
            assert document["metaData"]["code"] in META_CODES


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no BPJS Kesehatan fixture"):
        fixtures.raw("bpjs_kesehatan", "peserta_nobody")


def test_recorded_fixtures_live_with_the_tests_not_in_the_package() -> None:
    """The recorded-fixtures rule and the manifest point at the fixtures under tests/; the package ships none."""
    assert _rules()["recorded-fixtures"]["status"] == "done"
    assert "tests/fixtures/bpjs_kesehatan/" in _rules()["recorded-fixtures"]["comment"]
    assert _manifest()["fixtures"].startswith("tests/fixtures/bpjs_kesehatan ")
    assert (fixtures.ROOT / "bpjs_kesehatan").is_dir()
    assert not PACKAGE.joinpath("fixtures").is_dir()


def test_profile_codes_are_the_table() -> None:
    """The profile publishes every code of the table, classified as the adapter raises it."""
    assert list(PROFILE.documented_codes) == list(META_CODES)
    assert PROFILE.classify is not None
    for code, entry in META_CODES.items():
        assert PROFILE.classify(code) is entry.error
    assert set(PROFILE.secret_settings) == {"consumer_secret", "user_key"}
    assert PROFILE.base_path == "/vclaim-rest"


async def test_profile_samples_build_and_reach_the_wire() -> None:
    """The profile's settings build the adapter and each sample payload validates and goes out signed."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=orjson.dumps({"metaData": {"code": "201"}, "response": None}))

    http = AgencyHttp(httpx.MockTransport(answer), agency="bpjs-kesehatan", base_url="http://kit.test/vclaim-rest")
    adapter = PROFILE.factory(AdapterContext(http=http, settings=PROFILE.settings))
    services = {service.id: service for service in adapter.services()}
    assert {sample.service for sample in PROFILE.samples} == set(services)
    for sample in PROFILE.samples:
        payload = services[sample.service].payload_model.model_validate(dict(sample.payload))
        call = Call("req", sample.service, sample.nik, payload, sample.reference, 1, 1e12)
        with pytest.raises(Exception, match="201"):
            await adapter.execute(call)
    assert [request.url.path.split("/")[3] for request in seen] == ["nik", "nokartu"]
    assert all(request.headers["x-cons-id"] == PROFILE.settings["cons_id"] for request in seen)
