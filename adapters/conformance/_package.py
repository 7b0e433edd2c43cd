"""The package-files check: an adapter package's ``manifest.json`` and ``quality.yaml``, as hassfest checks them.

Both files sit in the adapter class's package, next to its ``__init__``, and ship as package data:

- ``manifest.json`` declares the integration: ``agency``, ``name`` and ``owner``; ``protocol.source`` (where the
  wire format comes from); ``services`` (``id``, ``kind``, ``personal_data``, as the adapter offers them);
  ``real`` and ``modelled`` (what is known of the agency and what is assumed); ``settings`` (``name``, ``env``,
  ``secret``, ``description`` of every setting it reads). Other keys are free.
- ``quality.yaml`` holds ``rules``: each rule ``status: done`` or ``status: exempt``, with a ``comment`` saying
  where it is shown or why it does not apply. Every rule of :data:`QUALITY_RULES` must be there; a package adds
  its own. The rules the kit's other parts prove (:data:`UNEXEMPTABLE_RULES`) cannot be exempt, nor can consent
  when a service reads personal data. (Reconciliation may be exempt even for a submission: some agencies offer
  no way to look one up; the reason then says so.)
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from importlib.abc import Traversable
from types import MappingProxyType
from typing import Any

from contracts import ServiceKind

from .._base import Adapter, Service
from ._build import build_adapter, offline_http
from ._profile import ConformanceProfile
from ._report import Failure, Report

__all__ = ["MANIFEST_KEYS", "QUALITY_RULES", "UNEXEMPTABLE_RULES", "check_package_files"]

_PART = "package-files"

MANIFEST_KEYS: Mapping[str, type] = MappingProxyType({
    "agency": str,
    "name": str,
    "owner": str,
    "protocol": dict,
    "services": list,
    "real": list,
    "modelled": list,
    "settings": list,
})
"""The keys every ``manifest.json`` has, with the JSON type of each value."""

QUALITY_RULES: Mapping[str, str] = MappingProxyType({
    "authenticates-every-call": "every request carries the agency's credentials",
    "signs-every-call": "every request is signed, where the agency signs",
    "error-table-complete": "every code the agency documents is in the error table",
    "unknown-codes-need-a-human": "an unknown code is misconfigured, never a guess",
    "http-layer-classified": "HTTP statuses without the agency's envelope are classified",
    "classifies-html-error-pages": "a proxy's HTML page is transient, never parsed",
    "malformed-bodies-are-transient": "non-JSON, truncated or empty bodies are transient",
    "body-size-limit": "an oversized body is refused, not read whole",
    "timeouts-and-deadline": "each call is bounded by the agency's timeout and the request's deadline",
    "no-credentials-in-errors-or-logs": "no setting marked secret appears in an error, a repr or a log line",
    "no-personal-data-in-errors": "errors carry no NIK, name or agency text about the person",
    "reconciliation": "an ambiguous submission is looked up by its reference before any resend",
    "consent-for-personal-data": "services that read personal data declare it, so the gateway requires consent",
    "recorded-fixtures": "the tests replay recorded or reference wire replies",
    "fixtures-shared-with-mock": "the mock and the fixtures cannot drift apart",
    "tests-mirror-modules": "one test module per module of the package",
    "error-matrices-check-recovery": "every failure is followed by a success on the same adapter",
    "strict-typing": "mypy --strict passes on the package",
})
"""The rules every ``quality.yaml`` states, done or exempt, with what each asks."""

UNEXEMPTABLE_RULES = frozenset({
    "error-table-complete",
    "http-layer-classified",
    "classifies-html-error-pages",
    "malformed-bodies-are-transient",
    "body-size-limit",
    "timeouts-and-deadline",
    "no-credentials-in-errors-or-logs",
})
"""Rules that must be ``done``: the kit's error-table part and hostile battery demand them of every adapter."""

# An adapter may read no setting and model nothing; it cannot lack a name, an owner, services or known facts.
_NON_EMPTY = frozenset({"agency", "name", "owner", "services", "real"})
_STATUSES = ("done", "exempt")
_RULE_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_package_files(
    adapter_class: type[Adapter], profile: ConformanceProfile | None = None, *, agency: str | None = None
) -> Report:
    """Check ``manifest.json`` and ``quality.yaml`` of the package that defines ``adapter_class``.

    The manifest's agency and name must be the class's. With the package's ``profile``, the adapter is built
    (offline, as for the catalog check) and the manifest's services must be exactly its catalog, the profile's
    settings must be declared in the manifest, and consent must be done if a service reads personal data.
    ``agency`` is the name the adapter is installed under, for the report. Nothing is sent anywhere.
    """
    slug = agency or getattr(adapter_class, "agency", "") or ""
    files = _package_files(adapter_class)
    if isinstance(files, Failure):
        return Report(_PART, slug, (files,))
    failures: list[Failure] = []
    services: list[Service[Any, Any]] | None = None
    if profile is not None:
        try:
            services = list(build_adapter(profile, offline_http(slug or "conformance", profile)).services())
        except Exception as exc:
            failures.append(Failure("package.factory", "factory", f"building the adapter raised {type(exc).__name__}"))
    manifest = _load(files, "manifest.json", _parse_json)
    if isinstance(manifest, Failure):
        failures.append(manifest)
    else:
        failures += _check_manifest(manifest, adapter_class, services, profile)
    quality = _load(files, "quality.yaml", _parse_yaml)
    if isinstance(quality, Failure):
        failures.append(quality)
    else:
        failures += _check_quality(quality, services)
    return Report(_PART, slug, tuple(failures))


def _package_files(adapter_class: type[Adapter]) -> Traversable | Failure:
    subject = f"{adapter_class.__module__}.{adapter_class.__qualname__}"
    try:
        module = importlib.import_module(adapter_class.__module__)
    except Exception as exc:
        return Failure("package.location", subject, f"importing its module raised {type(exc).__name__}")
    package = module.__package__ or ""
    if not package:
        return Failure("package.location", subject, "is not defined in a package: manifest.json has no home")
    return resources.files(package)


def _load(files: Traversable, name: str, parse: Callable[[str], object]) -> dict[str, Any] | Failure:
    check = name.split(".", 1)[0]
    entry = files.joinpath(name)
    if not entry.is_file():
        return Failure(f"{check}.missing", name, "not found in the adapter's package (is it package data?)")
    try:
        data = parse(entry.read_text(encoding="utf-8"))
    except Exception as exc:
        return Failure(f"{check}.syntax", name, f"cannot be read: {type(exc).__name__}")
    if not isinstance(data, dict):
        return Failure(f"{check}.syntax", name, f"must hold an object at the top, not a {type(data).__name__}")
    return data


def _parse_json(text: str) -> object:
    parsed: object = json.loads(text)
    return parsed


def _parse_yaml(text: str) -> object:
    import yaml  # type: ignore[import-untyped]  # no stubs; imported late: PyYAML is a test dependency

    parsed: object = yaml.safe_load(text)
    return parsed


def _check_manifest(
    manifest: dict[str, Any],
    adapter_class: type[Adapter],
    services: Sequence[Service[Any, Any]] | None,
    profile: ConformanceProfile | None,
) -> list[Failure]:
    failures = []
    for key, kind in MANIFEST_KEYS.items():
        if key not in manifest:
            failures.append(Failure("manifest.key", key, "missing"))
        elif not isinstance(manifest[key], kind):
            failures.append(Failure("manifest.key", key, f"must be a JSON {_json_name(kind)}"))
        elif key in _NON_EMPTY and not (manifest[key].strip() if isinstance(manifest[key], str) else manifest[key]):
            failures.append(Failure("manifest.key", key, "must not be empty"))
    if failures:
        return failures
    agency = getattr(adapter_class, "agency", None)
    if manifest["agency"] != agency:
        failures.append(Failure("manifest.agency", manifest["agency"], f"the adapter's agency is {agency!r}"))
    if manifest["name"] != adapter_class.agency_name:
        failures.append(Failure("manifest.name", manifest["name"], "differs from the adapter's agency_name"))
    source = manifest["protocol"].get("source")
    if not isinstance(source, str) or not source.strip():
        failures.append(Failure("manifest.protocol", "protocol.source", "must say where the wire format comes from"))
    for key in ("real", "modelled"):
        if not all(isinstance(item, str) and item.strip() for item in manifest[key]):
            failures.append(Failure("manifest.key", key, "must list non-empty texts"))
    failures += _check_manifest_services(manifest["services"], str(agency), services)
    failures += _check_manifest_settings(manifest["settings"], str(agency), profile)
    return failures


def _json_name(kind: type) -> str:
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names[kind]


def _check_manifest_services(
    declared: list[Any], agency: str, services: Sequence[Service[Any, Any]] | None
) -> list[Failure]:
    failures = []
    entries: dict[str, dict[str, Any]] = {}
    for number, entry in enumerate(declared, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            failures.append(Failure("manifest.services", f"services[{number}]", "must be an object with an id"))
            continue
        service_id = entry["id"]
        if service_id in entries:
            failures.append(Failure("manifest.services", service_id, "declared twice"))
        entries[service_id] = entry
        if entry.get("kind") not in {kind.value for kind in ServiceKind}:
            failures.append(Failure("manifest.services", service_id, "kind must be lookup or submission"))
        if not isinstance(entry.get("personal_data"), bool):
            failures.append(Failure("manifest.services", service_id, "personal_data must be true or false"))
        if not service_id.startswith(f"{agency}."):
            failures.append(Failure("manifest.services", service_id, f"must start with the agency {agency!r}"))
    if services is None or failures:
        return failures
    offered = {service.id: service for service in services}
    for service_id in sorted(offered.keys() - entries.keys()):
        failures.append(Failure("manifest.services", service_id, "offered by the adapter, missing from the manifest"))
    for service_id in sorted(entries.keys() - offered.keys()):
        failures.append(Failure("manifest.services", service_id, "in the manifest, not offered by the adapter"))
    for service_id in sorted(entries.keys() & offered.keys()):
        entry, service = entries[service_id], offered[service_id]
        if entry["kind"] != service.kind.value:
            detail = f"kind is {entry['kind']!r} here, {service.kind.value!r} in the catalog"
            failures.append(Failure("manifest.services", service_id, detail))
        if entry["personal_data"] != service.personal_data:
            detail = f"personal_data is {entry['personal_data']} here, {service.personal_data} in the catalog"
            failures.append(Failure("manifest.services", service_id, detail))
    return failures


def _check_manifest_settings(
    declared: list[Any], agency: str, profile: ConformanceProfile | None
) -> list[Failure]:
    failures = []
    prefix = f"MPP_AGENCY__{agency.upper().replace('-', '_')}__"
    names: set[str] = set()
    for number, entry in enumerate(declared, 1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(name, str) or not _SETTING_NAME.match(name):
            detail = "must be an object whose name is lower-case letters, digits and '_'"
            failures.append(Failure("manifest.settings", f"settings[{number}]", detail))
            continue
        if name in names:
            failures.append(Failure("manifest.settings", name, "declared twice"))
        names.add(name)
        if entry.get("env") != prefix + name.upper():
            failures.append(Failure("manifest.settings", name, f"env must be {prefix + name.upper()}"))
        if not isinstance(entry.get("secret"), bool):
            failures.append(Failure("manifest.settings", name, "secret must be true or false"))
        description = entry.get("description")
        if not isinstance(description, str) or not description.strip():
            failures.append(Failure("manifest.settings", name, "needs a description"))
    if profile is not None:
        # base_url is every agency's, configured by the gateway; a manifest may list it or not.
        used = (set(profile.settings) | set(profile.secret_settings)) - {"base_url"}
        for name in sorted(used - names):
            failures.append(Failure("manifest.settings", name, "the adapter reads it but the manifest omits it"))
    return failures


def _check_quality(quality: dict[str, Any], services: Sequence[Service[Any, Any]] | None) -> list[Failure]:
    rules = quality.get("rules")
    if not isinstance(rules, dict) or not rules:
        return [Failure("quality.rules", "rules", "quality.yaml must hold a non-empty mapping under 'rules'")]
    failures = []
    for name, rule in rules.items():
        if not isinstance(name, str) or not _RULE_NAME.match(name):
            failures.append(Failure("quality.rule-name", str(name), "must be lower-case words joined by '-'"))
        if not isinstance(rule, dict) or rule.get("status") not in _STATUSES:
            failures.append(Failure("quality.status", str(name), "status must be done or exempt"))
            continue
        comment = rule.get("comment")
        if not isinstance(comment, str) or not comment.strip():
            reason = "why it does not apply" if rule["status"] == "exempt" else "where it is shown"
            failures.append(Failure("quality.comment", str(name), f"needs a comment saying {reason}"))
    for name in QUALITY_RULES:
        if name not in rules:
            failures.append(Failure("quality.rule-missing", name, f"not stated: {QUALITY_RULES[name]}"))
    must_be_done = {name: "the kit's other parts demand it of every adapter" for name in UNEXEMPTABLE_RULES}
    if services is not None and any(service.personal_data for service in services):
        must_be_done["consent-for-personal-data"] = "a service reads personal data"
    for name, why in sorted(must_be_done.items()):
        rule = rules.get(name)
        if isinstance(rule, dict) and rule.get("status") == "exempt":
            failures.append(Failure("quality.exempt", name, f"cannot be exempt: {why}"))
    return failures
