"""adapters.conformance discovery: entry points to profiles, a missing profile as a failure, the generated test."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from adapters import ENTRY_POINT_GROUP
from adapters.conformance import (
    PARTS,
    ConformanceFailure,
    InstalledAdapter,
    conformance_params,
    conformance_tests,
    installed_adapters,
)

from .kit_fake import conformance as kit_fake_conformance

HERE = "tests.adapters.conformance"


def _entry_point(value: str, name: str = "kit-fake") -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_a_package_with_a_profile_is_found() -> None:
    """The profile is <entry point module>.conformance.PROFILE."""
    found = InstalledAdapter.from_entry_point(_entry_point(f"{HERE}.kit_fake:KitFakeAdapter"))
    assert found.profile is kit_fake_conformance.PROFILE
    assert found.problem is None
    assert found.profile_module == f"{HERE}.kit_fake.conformance"
    assert found.check("catalog").ok


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{HERE}.kit_fake:Missing", "loading the entry point"),
        (f"{HERE}._support:assert_conformant", f"no module {HERE}._support.conformance"),
        ("adapters:Adapter", "adapters.conformance defines no PROFILE"),
        (f"{HERE}.not_a_profile:KitFakeAdapter", "PROFILE is a dict, not a ConformanceProfile"),
        (f"{HERE}.broken_profile:KitFakeAdapter", "raised ModuleNotFoundError"),
    ],
    ids=["entry-point-broken", "no-conformance-module", "no-profile", "profile-of-wrong-type", "profile-import-fails"],
)
def test_an_adapter_without_a_usable_profile_fails_every_part(value: str, problem: str) -> None:
    """Each reason a profile is missing is recorded, never raised, and makes every part fail rather than skip."""
    found = InstalledAdapter.from_entry_point(_entry_point(value))
    assert found.profile is None
    assert found.problem is not None and problem in found.problem
    for part in PARTS:
        report = found.check(part)
        assert report.checks() == {"profile.missing"}
        with pytest.raises(ConformanceFailure, match=r"profile\.missing"):
            report.assert_ok()


def test_installed_adapters_follow_the_entry_points() -> None:
    """Every installed entry point is listed once, sorted; Dukcapil's profile is its package's."""
    from adapters.dukcapil import conformance

    names = [item.agency for item in installed_adapters()]
    assert names == sorted(names) and "dukcapil" in names
    (dukcapil,) = installed_adapters(["dukcapil"])
    assert dukcapil.entry_point == "adapters.dukcapil:DukcapilAdapter"
    assert dukcapil.profile is conformance.PROFILE


def test_a_named_adapter_that_is_not_installed_fails() -> None:
    """Asking for an agency nobody installed gives an entry that fails, not an empty (skipped) parameter set."""
    (missing,) = installed_adapters(["imaginary"])
    assert missing.profile is None and missing.problem is not None and ENTRY_POINT_GROUP in missing.problem
    assert not missing.check("catalog").ok


def test_conformance_params_pair_agency_and_adapter() -> None:
    """The parameters are (agency, InstalledAdapter) pairs, ready for pytest.mark.parametrize."""
    params = conformance_params("dukcapil", "imaginary")
    assert [(agency, item.agency) for agency, item in params] == [("dukcapil", "dukcapil"), ("imaginary", "imaginary")]


def test_unknown_parts_are_refused() -> None:
    """check() names the parts it knows when given another."""
    (dukcapil,) = installed_adapters(["dukcapil"])
    with pytest.raises(ValueError, match="catalog, error-table, package-files, hostile-battery"):
        dukcapil.check("everything")


def test_the_generated_test_is_parametrized_by_agency_and_part() -> None:
    """conformance_tests() gives one pytest item per agency and part, with readable ids."""
    generated = conformance_tests("dukcapil", "imaginary")
    (mark,) = generated.pytestmark  # type: ignore[attr-defined]
    assert mark.name == "parametrize"
    assert [param.id for param in mark.args[1]] == [f"{agency}-{part}" for agency in ("dukcapil", "imaginary")
                                                    for part in PARTS]


def test_the_generated_test_passes_a_good_adapter_and_fails_a_missing_one() -> None:
    """The generated function asserts the report: silent for a clean part, ConformanceFailure otherwise."""
    generated = conformance_tests()
    good = InstalledAdapter.from_entry_point(_entry_point(f"{HERE}.kit_fake:KitFakeAdapter"))
    generated(good, "catalog")
    generated(good, "error-table")
    (missing,) = installed_adapters(["imaginary"])
    with pytest.raises(ConformanceFailure, match="imaginary fails the conformance catalog"):
        generated(missing, "catalog")
