"""adapters.conformance.check_package_files: manifest.json and quality.yaml of an adapter package, rule by rule."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import sys
import uuid
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML has no inline types; its stubs are no dependency

from adapters import ENTRY_POINT_GROUP, Adapter, AdapterContext
from adapters.conformance import (
    PARTS,
    QUALITY_RULES,
    UNEXEMPTABLE_RULES,
    InstalledAdapter,
    check_package_files,
)
from contracts import ServiceKind

from .kit_fake import CHECK, KitFakeAdapter
from .kit_fake.conformance import PROFILE, profile

KIT_FAKE = Path(__file__).parent / "kit_fake"
MANIFEST: dict[str, Any] = json.loads((KIT_FAKE / "manifest.json").read_text(encoding="utf-8"))
QUALITY: dict[str, Any] = yaml.safe_load((KIT_FAKE / "quality.yaml").read_text(encoding="utf-8"))
SUBMIT = dataclasses.replace(CHECK, id="kit-fake.thing.submit", kind=ServiceKind.SUBMISSION, personal_data=True)

PackageMaker = Callable[..., type[Adapter]]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackageMaker:
    """Makes an importable package holding the given files, and an adapter class defined in it."""

    def make(manifest: object = MANIFEST, quality: object = QUALITY, *, raw: dict[str, str] | None = None) -> type:
        name = f"kit_package_{uuid.uuid4().hex[:12]}"
        root = tmp_path / name
        root.mkdir()
        (root / "__init__.py").write_text('"""A generated adapter package."""\n', encoding="utf-8")
        if manifest is not None:
            (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        if quality is not None:
            (root / "quality.yaml").write_text(yaml.safe_dump(quality), encoding="utf-8")
        for file_name, text in (raw or {}).items():
            (root / file_name).write_text(text, encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setitem(sys.modules, name, importlib.import_module(name))
        return type("PackagedAdapter", (KitFakeAdapter,), {"__module__": name})

    return make


def changed(document: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A deep copy of ``document`` with ``change`` applied."""
    result = copy.deepcopy(document)
    change(result)
    return result


def with_rule(name: str, status: str, comment: str = "Says why.") -> dict[str, Any]:
    """The reference quality file with one rule set."""
    return changed(QUALITY, lambda q: q["rules"].__setitem__(name, {"status": status, "comment": comment}))


def test_the_reference_package_passes() -> None:
    """The fake adapter's own manifest.json and quality.yaml, found through its class's package, have no failure."""
    report = check_package_files(KitFakeAdapter, PROFILE)
    assert report.ok, report.failures
    assert (report.part, report.agency) == ("package-files", "kit-fake")


def test_the_built_in_rules_are_the_four_built_in_adapters_shared_rules() -> None:
    """QUALITY_RULES is what every built-in quality.yaml states; the unexemptable ones are among them."""
    from importlib import resources

    shared = None
    for package in ("dukcapil", "oss", "bpjs_kesehatan", "bpjs_ketenagakerjaan"):
        text = resources.files(f"adapters.{package}").joinpath("quality.yaml").read_text(encoding="utf-8")
        rules = set(yaml.safe_load(text)["rules"])
        shared = rules if shared is None else shared & rules
    assert set(QUALITY_RULES) == shared
    assert set(QUALITY_RULES) >= UNEXEMPTABLE_RULES


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.__setitem__(key, value)


def _service(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["services"][0].update(fields)


def _setting(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["settings"][0].update(fields)


@pytest.mark.parametrize(
    ("change", "check", "subject"),
    [
        (_drop("owner"), "manifest.key", "owner"),
        (_set("real", []), "manifest.key", "real"),
        (_set("services", {}), "manifest.key", "services"),
        (_set("agency", "kit-faker"), "manifest.agency", "kit-faker"),
        (_set("name", "Another name"), "manifest.name", "Another name"),
        (_set("protocol", {"endpoint": "somewhere"}), "manifest.protocol", "protocol.source"),
        (_set("modelled", ["", "x"]), "manifest.key", "modelled"),
        (_service(id="kit-fake.thing.other"), "manifest.services", "kit-fake.thing.check"),
        (_service(id="other.thing.check"), "manifest.services", "other.thing.check"),
        (_service(kind="submission"), "manifest.services", "kit-fake.thing.check"),
        (_service(kind="query"), "manifest.services", "kit-fake.thing.check"),
        (_service(personal_data=True), "manifest.services", "kit-fake.thing.check"),
        (lambda m: m["services"].append(dict(m["services"][0])), "manifest.services", "kit-fake.thing.check"),
        (_setting(env="KIT_FAKE_API_KEY"), "manifest.settings", "api_key"),
        (_setting(secret="yes"), "manifest.settings", "api_key"),
        (_setting(description=" "), "manifest.settings", "api_key"),
        (_setting(name="token"), "manifest.settings", "api_key"),
        (_setting(name="API-KEY"), "manifest.settings", "settings[1]"),
        (lambda m: m["settings"].append(dict(m["settings"][0])), "manifest.settings", "api_key"),
    ],
    ids=[
        "key-missing", "key-empty", "key-wrong-type", "other-agency", "other-name", "no-protocol-source",
        "blank-modelled-entry", "service-renamed", "service-of-another-agency", "kind-differs", "kind-unknown",
        "personal-data-differs", "service-twice", "env-off-pattern", "secret-not-boolean", "no-description",
        "setting-the-adapter-reads-missing", "setting-name-malformed", "setting-twice",
    ],
)
def test_each_manifest_defect_is_reported(
    package: PackageMaker, change: Callable[[dict[str, Any]], None], check: str, subject: str
) -> None:
    """Each way a manifest can disagree with its adapter or miss a declaration fails by its rule and subject."""
    report = check_package_files(package(manifest=changed(MANIFEST, change)), PROFILE)
    assert (check, subject) in {(failure.check, failure.subject) for failure in report.failures}, report.failures
    assert report.checks() <= {"manifest.key", "manifest.agency", "manifest.name", "manifest.protocol",
                               "manifest.services", "manifest.settings"}


@pytest.mark.parametrize(
    ("quality", "check", "subject"),
    [
        ({"rules": {}}, "quality.rules", "rules"),
        ({"rule": QUALITY["rules"]}, "quality.rules", "rules"),
        (with_rule("strict-typing", "planned"), "quality.status", "strict-typing"),
        (with_rule("strict-typing", "exempt", ""), "quality.comment", "strict-typing"),
        (with_rule("Own_Rule", "done"), "quality.rule-name", "Own_Rule"),
        (changed(QUALITY, lambda q: q["rules"].pop("recorded-fixtures")), "quality.rule-missing", "recorded-fixtures"),
        *[(with_rule(rule, "exempt"), "quality.exempt", rule) for rule in sorted(UNEXEMPTABLE_RULES)],
    ],
    ids=["no-rules", "rules-misspelt", "status-unknown", "no-comment", "rule-name-malformed", "known-rule-missing",
         *[f"{rule}-exempt" for rule in sorted(UNEXEMPTABLE_RULES)]],
)
def test_each_quality_defect_is_reported(
    package: PackageMaker, quality: dict[str, Any], check: str, subject: str
) -> None:
    """Each way a quality file can fall short fails by its rule and subject, and by nothing else."""
    report = check_package_files(package(quality=quality), PROFILE)
    assert {(failure.check, failure.subject) for failure in report.failures} == {(check, subject)}


def test_consent_cannot_be_exempt_when_a_service_reads_personal_data(package: PackageMaker) -> None:
    """With a personal-data service, an exempt consent rule fails; done, it passes."""
    rule = "consent-for-personal-data"
    manifest = changed(MANIFEST, _service(personal_data=True))
    needing = profile(services=(dataclasses.replace(CHECK, personal_data=True),))
    report = check_package_files(package(manifest=manifest), needing)
    assert {(failure.check, failure.subject) for failure in report.failures} == {("quality.exempt", rule)}
    assert check_package_files(package(manifest=manifest, quality=with_rule(rule, "done")), needing).ok


def test_a_submission_may_exempt_reconciliation_with_a_reason(package: PackageMaker) -> None:
    """Some agencies offer no lookup of a submission: reconciliation exempt, with its reason, still passes."""
    manifest = changed(MANIFEST, _service(kind="submission"))
    submitting = profile(services=(dataclasses.replace(CHECK, kind=ServiceKind.SUBMISSION),))
    quality = with_rule("reconciliation", "exempt", "The agency offers no lookup by our reference.")
    assert check_package_files(package(manifest=manifest, quality=quality), submitting).ok


def test_services_are_compared_with_the_catalog_only_given_a_profile(package: PackageMaker) -> None:
    """Without a profile the adapter is not built: the manifest's services are checked for form, not agreement."""
    manifest = changed(MANIFEST, lambda m: m["services"].append({"id": SUBMIT.id, "kind": "submission",
                                                                "personal_data": True}))
    adapter_class = package(manifest=manifest)
    assert check_package_files(adapter_class).ok
    report = check_package_files(adapter_class, PROFILE)
    assert {(failure.check, failure.subject) for failure in report.failures} == {("manifest.services", SUBMIT.id)}


@pytest.mark.parametrize(
    ("files", "checks"),
    [
        ({"manifest": None}, {"manifest.missing"}),
        ({"quality": None}, {"quality.missing"}),
        ({"manifest": None, "quality": None}, {"manifest.missing", "quality.missing"}),
        ({"manifest": None, "raw": {"manifest.json": "{not json"}}, {"manifest.syntax"}),
        ({"manifest": ["a", "list"]}, {"manifest.syntax"}),
        ({"quality": None, "raw": {"quality.yaml": "rules: [unclosed"}}, {"quality.syntax"}),
    ],
    ids=["no-manifest", "no-quality", "neither", "manifest-not-json", "manifest-not-an-object", "quality-not-yaml"],
)
def test_missing_or_unreadable_files_fail(package: PackageMaker, files: dict[str, Any], checks: set[str]) -> None:
    """A file that is absent from the package or cannot be parsed is a failure, never an exception."""
    assert check_package_files(package(**files), PROFILE).checks() == checks


def test_a_class_outside_any_package_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A class whose module is not in a package has nowhere to keep the files, and says so."""
    module = type(sys)("kit_loose_module")
    monkeypatch.setitem(sys.modules, "kit_loose_module", module)
    loose = type("LooseAdapter", (KitFakeAdapter,), {"__module__": "kit_loose_module"})
    assert check_package_files(loose, PROFILE).checks() == {"package.location"}


def test_a_factory_that_cannot_build_fails(package: PackageMaker) -> None:
    """With a profile whose factory raises, the services cannot be compared, and the report says why."""

    def broken(context: AdapterContext) -> Adapter:
        raise RuntimeError("cannot build")

    report = check_package_files(package(), profile(factory=broken))
    assert report.checks() == {"package.factory"}


def test_the_installed_adapter_runs_the_part() -> None:
    """package-files is a part of the kit, run for an entry point naming a class or another callable."""
    assert "package-files" in PARTS
    value = "tests.adapters.conformance.kit_fake:KitFakeAdapter"
    installed = InstalledAdapter.from_entry_point(EntryPoint(name="kit-fake", value=value, group=ENTRY_POINT_GROUP))
    assert installed.check("package-files").ok
    # Not a class: the class is then that of the adapter the profile builds.
    not_a_class = dataclasses.replace(installed, entry_point="tests.adapters.conformance.kit_fake.conformance:profile")
    assert not_a_class.check("package-files").ok
    unloadable = dataclasses.replace(installed, entry_point="tests.adapters.conformance.kit_fake:Missing", profile=None)
    assert unloadable.check("package-files").checks() == {"profile.missing"}
