"""adapters.conformance.check_catalog: a clean catalog passes, and each kind of defect is reported by its rule."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from adapters import AdapterContext, ProblemType, Service
from adapters.conformance import ConformanceProfile, SampleCall, base_path, check_catalog
from contracts import LocalizedText

from .kit_fake import AGENCY, CHECK, PROBLEMS, KitFakeAdapter
from .kit_fake.conformance import NIK, SAMPLES, SETTINGS, profile


class _BadSchemaPayload(BaseModel):
    """A payload whose generated schema says ``"type": 12``: not JSON Schema."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"type": 12})

    name: str = Field(min_length=1)


def _service(**changes: Any) -> Service[Any, Any]:
    return dataclasses.replace(CHECK, **changes)


def _title(id_: str, en: str) -> LocalizedText:
    return LocalizedText.model_construct(id=id_, en=en)


class _OtherAgency(KitFakeAdapter):
    agency = "Kit_Fake"


class _BadProblems(KitFakeAdapter):
    problem_types = (
        ProblemType("thing-gone", 500, LocalizedText(id="Benda hilang", en="Thing gone"), "Gone."),
        ProblemType("Thing Gone", 422, LocalizedText(id="Sama", en="Sama"), " "),
        *PROBLEMS,
        *PROBLEMS,
    )


def _raise(context: AdapterContext) -> KitFakeAdapter:
    raise RuntimeError("cannot build")


def test_the_reference_adapter_passes() -> None:
    """A well-formed catalog with a sample per service, bilingual titles and 4xx problems has no failure."""
    report = check_catalog(profile(), agency=AGENCY)
    assert report.ok, report.failures
    assert report.agency == AGENCY and report.part == "catalog"


@pytest.mark.parametrize(
    ("broken", "check", "subject"),
    [
        (profile(services=(_service(id="kit-fake.Thing.check"),)), "catalog.service-id", "kit-fake.Thing.check"),
        (profile(services=(_service(id="kit-fake.thing"),)), "catalog.service-id", "kit-fake.thing"),
        (profile(services=(_service(id="other.thing.check"),)), "catalog.service-id", "other.thing.check"),
        (profile(services=(CHECK, CHECK)), "catalog.service-id", CHECK.id),
        (profile(services=()), "catalog.services", "services()"),
        (profile(services=(_service(title=_title("Periksa", "periksa")),)), "catalog.title", CHECK.id),
        (profile(services=(_service(title=_title("Periksa benda", " ")),)), "catalog.title", CHECK.id),
        (profile(services=(_service(description=_title("Sama", "Sama")),)), "catalog.description", CHECK.id),
        (profile(services=(_service(payload_model=_BadSchemaPayload),)), "catalog.schema", CHECK.id),
        (profile(services=(_service(id="kit-fake.Bad.id"),)), "catalog.descriptor", "kit-fake.Bad.id"),
        (profile(samples=()), "catalog.sample-missing", CHECK.id),
        (
            profile(samples=(SampleCall(CHECK.id, NIK, {"name": ""}),)),
            "catalog.sample",
            f"sample 1 ({CHECK.id})",
        ),
        (
            profile(samples=(*SAMPLES, SampleCall(CHECK.id, NIK, {"name": "x", "colour": "red"}))),
            "catalog.sample",
            f"sample 2 ({CHECK.id})",
        ),
        (
            profile(samples=(*SAMPLES, SampleCall(CHECK.id, "3201010000000000", {"name": "x"}))),
            "catalog.sample",
            f"sample 2 ({CHECK.id})",
        ),
        (
            profile(samples=(*SAMPLES, SampleCall("kit-fake.thing.other", NIK, {}))),
            "catalog.sample",
            "sample 2 (kit-fake.thing.other)",
        ),
        (profile(factory=_BadProblems), "catalog.problem-type", "thing-gone"),
        (profile(factory=_BadProblems), "catalog.problem-type", "Thing Gone"),
        (profile(factory=_BadProblems), "catalog.problem-type", "thing-not-found"),
        (profile(factory=_OtherAgency), "catalog.agency", "'Kit_Fake'"),
        (profile(factory=_raise), "catalog.factory", "factory"),
        (profile(secret_settings=("api_key", "password")), "profile.secret-settings", "password"),
        (profile(settings={**SETTINGS, "api_key": "k3y"}), "profile.secret-settings", "api_key"),
    ],
    ids=[
        "upper-case-id", "two-part-id", "foreign-prefix", "duplicate-id", "no-services", "same-title",
        "blank-english-title", "same-description", "invalid-schema", "descriptor-refuses-id", "no-sample",
        "invalid-sample-payload", "extra-sample-field", "invalid-sample-nik", "sample-of-unknown-service",
        "problem-status-500", "problem-bad-slug-and-titles", "problem-declared-twice", "malformed-agency",
        "factory-raises", "secret-not-in-settings", "secret-too-short",
    ],
)
def test_each_defect_is_reported(broken: ConformanceProfile, check: str, subject: str) -> None:
    """A catalog with one defect fails, under the rule and subject that name it."""
    report = check_catalog(broken)
    assert not report.ok
    assert (check, subject) in {(f.check, f.subject) for f in report.failures}, report.failures


def test_the_adapter_must_claim_its_entry_point_name() -> None:
    """An adapter installed under another name than its agency fails."""
    report = check_catalog(profile(), agency="kit-other")
    assert report.checks() == {"catalog.agency"}


def test_failures_carry_no_sample_values() -> None:
    """A failing sample is described by field and rule, never by the (possibly personal) value it holds."""
    broken = profile(samples=(SampleCall(CHECK.id, NIK, {"name": "Siti Rahayu" * 10}),))
    report = check_catalog(broken)
    assert report.checks() == {"catalog.sample"}
    assert "Siti" not in str(report.failures)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "/gw/v1"),
        ({"base_path": "/vclaim-rest/"}, "/vclaim-rest"),
        ({"base_path": "api"}, "/api"),
        ({"base_path": ""}, ""),
        ({"settings": {"api_key": "x" * 10}}, ""),
        ({"settings": {"api_key": "x" * 10, "base_url": "http://h:1/"}}, ""),
    ],
)
def test_base_path_comes_from_the_profile_or_its_base_url(changes: dict[str, Any], expected: str) -> None:
    """The battery serves under the profile's base_path, else the path of its base_url setting."""
    assert base_path(dataclasses.replace(profile(), **changes)) == expected

