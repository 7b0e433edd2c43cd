"""The catalog check: what a counter app and the gateway read from an adapter before any call is made."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from contracts import SERVICE_ID_PATTERN, LocalizedText, check_nik

from .._base import Adapter, ProblemType, Service
from ._build import build_adapter, offline_http, secret_values, validation_summary
from ._profile import ConformanceProfile
from ._report import Failure, Report

__all__ = ["MIN_SECRET_LENGTH", "check_catalog"]

_AGENCY_SLUG = re.compile(r"^[a-z][a-z0-9-]*$")
_SERVICE_ID = re.compile(SERVICE_ID_PATTERN)
_PROBLEM_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

MIN_SECRET_LENGTH = 8
"""A secret setting's fake value must be at least this long: a short one would be found in any text by chance,
and a leak check that cannot tell a leak from a coincidence proves nothing."""


def check_catalog(profile: ConformanceProfile, *, agency: str | None = None) -> Report:
    """Check the adapter's catalog, samples, problem types and secret settings; nothing is sent anywhere.

    ``agency`` is the name the adapter is installed under (its entry point): the adapter must claim that agency.
    """
    failures: list[Failure] = []
    failures += _check_secret_settings(profile)
    try:
        adapter = build_adapter(profile, offline_http(agency or "conformance", profile))
    except Exception as exc:
        failures.append(Failure("catalog.factory", "factory", f"building the adapter raised {type(exc).__name__}"))
        return Report("catalog", agency or "", tuple(failures))
    failures += _check_agency(adapter, agency)
    try:
        services = list(adapter.services())
    except Exception as exc:
        failures.append(Failure("catalog.services", "services()", f"raised {type(exc).__name__}"))
        return Report("catalog", adapter.agency, tuple(failures))
    if not services:
        failures.append(Failure("catalog.services", "services()", "the adapter offers no service"))
    failures += _check_ids(adapter.agency, services)
    for service in services:
        failures += _check_service(service)
    failures += _check_samples(profile, services)
    failures += _check_problem_types(adapter.problem_types)
    return Report("catalog", adapter.agency, tuple(failures))


def _check_secret_settings(profile: ConformanceProfile) -> list[Failure]:
    failures = []
    values = secret_values(profile)
    for name in profile.secret_settings:
        value = values.get(name)
        if value is None:
            failures.append(Failure("profile.secret-settings", name, "named secret but missing from settings"))
        elif len(value) < MIN_SECRET_LENGTH:
            failures.append(
                Failure(
                    "profile.secret-settings",
                    name,
                    f"the fake value is shorter than {MIN_SECRET_LENGTH} characters: a leak check cannot rely on it",
                )
            )
    return failures


def _check_agency(adapter: Adapter, expected: str | None) -> list[Failure]:
    slug = getattr(adapter, "agency", None)
    if not isinstance(slug, str) or not _AGENCY_SLUG.match(slug):
        return [Failure("catalog.agency", repr(slug), "the agency slug must be lower-case letters, digits and '-'")]
    if expected is not None and slug != expected:
        return [Failure("catalog.agency", slug, f"the adapter is installed under the entry point {expected!r}")]
    return []


def _check_ids(agency: str, services: Sequence[Service[Any, Any]]) -> list[Failure]:
    failures = []
    counts = Counter(service.id for service in services)
    for service_id, count in sorted(counts.items()):
        if count > 1:
            failures.append(Failure("catalog.service-id", service_id, f"declared {count} times"))
        if not _SERVICE_ID.match(service_id):
            failures.append(
                Failure("catalog.service-id", service_id, "must be <agency>.<subject>.<action>: [a-z][a-z0-9-]* each")
            )
        elif service_id.split(".", 1)[0] != agency:
            failures.append(Failure("catalog.service-id", service_id, f"must start with the agency {agency!r}"))
    return failures


def _check_service(service: Service[Any, Any]) -> list[Failure]:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs; imported late: test-only
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

    failures = _check_text("catalog.title", service.id, service.title)
    if service.description is not None:
        failures += _check_text("catalog.description", service.id, service.description)
    try:
        descriptor = service.descriptor()
    except Exception as exc:
        failures.append(Failure("catalog.descriptor", service.id, f"descriptor() raised {type(exc).__name__}"))
        return failures
    for name in ("payload_schema", "result_schema"):
        try:
            Draft202012Validator.check_schema(getattr(descriptor, name))
        except SchemaError as exc:
            detail = f"{name} is not valid JSON Schema 2020-12: {exc.message}"
            failures.append(Failure("catalog.schema", service.id, detail))
    return failures


def _check_text(check: str, subject: str, text: LocalizedText) -> list[Failure]:
    indonesian, english = text.id.strip(), text.en.strip()
    if not indonesian or not english:
        return [Failure(check, subject, "needs both an Indonesian (id) and an English (en) text")]
    if indonesian.casefold() == english.casefold():
        return [Failure(check, subject, "the Indonesian and English texts are identical: one is not translated")]
    return []


def _check_samples(profile: ConformanceProfile, services: Sequence[Service[Any, Any]]) -> list[Failure]:
    failures = []
    by_id = {service.id: service for service in services}
    for number, sample in enumerate(profile.samples, 1):
        subject = f"sample {number} ({sample.service})"
        service = by_id.get(sample.service)
        if service is None:
            failures.append(Failure("catalog.sample", subject, "names a service the adapter does not offer"))
            continue
        try:
            service.payload_model.model_validate(dict(sample.payload))
        except ValidationError as exc:
            failures.append(Failure("catalog.sample", subject, f"payload invalid: {validation_summary(exc)}"))
        try:
            check_nik(sample.nik)
        except ValueError as exc:
            failures.append(Failure("catalog.sample", subject, f"nik invalid: {exc}"))
    sampled = {sample.service for sample in profile.samples}
    for service in services:
        if service.id not in sampled:
            failures.append(Failure("catalog.sample-missing", service.id, "the profile has no SampleCall for it"))
    return failures


def _check_problem_types(problem_types: Sequence[ProblemType]) -> list[Failure]:
    failures = []
    counts = Counter(problem.slug for problem in problem_types)
    for slug, count in sorted(counts.items()):
        if count > 1:
            failures.append(Failure("catalog.problem-type", slug, f"declared {count} times"))
    for problem in problem_types:
        slug = problem.slug
        if not _PROBLEM_SLUG.match(slug):
            failures.append(Failure("catalog.problem-type", slug, "the slug must be lower-case words joined by '-'"))
        if not 400 <= problem.status <= 499:
            failures.append(
                Failure("catalog.problem-type", slug, f"status {problem.status}: a rejection is the caller's 4xx")
            )
        failures += _check_text("catalog.problem-type", slug, problem.title)
        if not problem.description.strip():
            failures.append(Failure("catalog.problem-type", slug, "needs a description for /problems/<slug>"))
    return failures
