"""adapters/bpjs_kesehatan manifest.json, quality.yaml, fixtures/ and conformance.py: declared metadata."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import orjson
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters import AdapterContext, AgencyHttp, Call
from adapters.bpjs_kesehatan import REQUIRED_SETTINGS, SERVICES, BpjsKesehatanAdapter, fixtures
from adapters.bpjs_kesehatan.conformance import PROFILE
from adapters.bpjs_kesehatan.errors import META_CODES

PACKAGE = resources.files("adapters.bpjs_kesehatan")


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
    assert manifest["agency"] == BpjsKesehatanAdapter.agency
    assert manifest["name"] == BpjsKesehatanAdapter.agency_name
    assert manifest["owner"] == "MPP Integration Gateway team"
    assert [s["id"] for s in manifest["services"]] == [s.id for s in SERVICES]
    assert [s["personal_data"] for s in manifest["services"]] == [s.personal_data for s in SERVICES]


def test_manifest_separates_real_from_modelled() -> None:
    """The manifest names its sources, and says that the refusal codes and the clock skew are modelled."""
    manifest = _manifest()
    assert "AGENCIES.md" in manifest["protocol"]["source"]
    assert manifest["real"]
    modelled = " ".join(manifest["modelled"])
    assert all(code in modelled for code in ("401", "403", "408"))
    assert "skew" in modelled


def test_manifest_settings_and_their_secrets() -> None:
    """The manifest lists base_url and the required settings; the secret and the user key are secret."""
    settings = _manifest()["settings"]
    assert [s["name"] for s in settings] == ["base_url", *REQUIRED_SETTINGS]
    assert [s["env"] for s in settings] == [f"MPP_AGENCY__BPJS_KESEHATAN__{s['name'].upper()}" for s in settings]
    assert {s["name"] for s in settings if s["secret"]} == {"consumer_secret", "user_key"}


def test_quality_rules_are_done_or_exempt_with_a_reason() -> None:
    """Every quality rule is done or exempt, and every rule says why or where."""
    for name, rule in _rules().items():
        assert rule["status"] in {"done", "exempt"}, name
        assert rule.get("comment"), name


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


def test_fixtures_are_package_data() -> None:
    """Every fixture loads through the package; envelopes have metaData with a string code."""
    names = fixtures.names()
    assert {"peserta_active", "peserta_deceased", "envelope_peserta_active", "lzstring_vectors"} <= set(names)
    for name in names:
        document = fixtures.load(name)
        if name.startswith("envelope_"):
            assert isinstance(document["metaData"]["code"], str)
            assert document["metaData"]["code"] in META_CODES


def test_unknown_fixture_is_a_lookup_error() -> None:
    """Asking for a fixture that does not exist fails clearly."""
    with pytest.raises(LookupError, match="no BPJS Kesehatan fixture"):
        fixtures.raw("peserta_nobody")


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
