"""Finding the installed adapters and their profiles, and the pytest test that runs the kit on them.

An adapter is installed when an entry point of the group ``mpp_gateway.adapters`` names it; its profile is the
``PROFILE`` of the module ``<entry point module>.conformance``. An adapter without a profile is not skipped: it
fails, because the gateway would load an adapter nobody has checked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points

from .._base import Adapter
from .._registry import ENTRY_POINT_GROUP
from ._battery import DEFAULT_TIMEOUT, run_hostile_battery
from ._build import build_adapter, offline_http
from ._catalog import check_catalog
from ._error_table import check_error_table
from ._package import check_package_files
from ._profile import ConformanceProfile
from ._report import Failure, Report

__all__ = ["PARTS", "InstalledAdapter", "conformance_params", "conformance_tests", "installed_adapters"]

PARTS = ("catalog", "error-table", "package-files", "hostile-battery")
"""The parts of the kit, in the order :func:`conformance_tests` runs them."""


@dataclasses.dataclass(frozen=True)
class InstalledAdapter:
    """One entry point of ``mpp_gateway.adapters`` and the profile its package publishes (or why there is none)."""

    agency: str
    #: The entry point's value, ``package.module:Attribute``; empty when nothing is installed under ``agency``.
    entry_point: str
    #: ``<entry point module>.conformance``, where ``PROFILE`` must be.
    profile_module: str
    profile: ConformanceProfile | None
    #: Why ``profile`` is ``None``, in English.
    problem: str | None = None

    @classmethod
    def from_entry_point(cls, entry_point: EntryPoint) -> InstalledAdapter:
        """Load ``entry_point`` and its package's profile; every failure is recorded, none is raised."""
        module_name = f"{entry_point.module}.conformance"

        def missing(problem: str) -> InstalledAdapter:
            return cls(entry_point.name, entry_point.value, module_name, None, problem)

        try:
            entry_point.load()
        except Exception as exc:
            return missing(f"loading the entry point {entry_point.value!r} raised {_describe(exc)}")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return missing(f"no module {module_name}: the adapter package must publish conformance.PROFILE")
            return missing(f"importing {module_name} raised {_describe(exc)}")
        except Exception as exc:
            return missing(f"importing {module_name} raised {_describe(exc)}")
        profile = getattr(module, "PROFILE", None)
        if profile is None:
            return missing(f"{module_name} defines no PROFILE")
        if not isinstance(profile, ConformanceProfile):
            return missing(f"{module_name}.PROFILE is a {type(profile).__name__}, not a ConformanceProfile")
        return cls(entry_point.name, entry_point.value, module_name, profile)

    def check(self, part: str, *, timeout: float = DEFAULT_TIMEOUT) -> Report:
        """Run one of :data:`PARTS` on this adapter; a missing profile is a failed report, whatever the part.

        Synchronous: the battery runs in its own event loop. From async code, call the part's function directly.
        """
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}: one of {', '.join(PARTS)}")
        if self.profile is None:
            failure = Failure("profile.missing", self.profile_module or self.agency, self.problem or "no profile")
            return Report(part, self.agency, (failure,))
        if part == "catalog":
            return check_catalog(self.profile, agency=self.agency)
        if part == "error-table":
            return check_error_table(self.profile, agency=self.agency)
        if part == "package-files":
            adapter_class = self._adapter_class()
            if adapter_class is None:
                failure = Failure("package.factory", self.entry_point, "neither an Adapter class nor a working factory")
                return Report(part, self.agency, (failure,))
            return check_package_files(adapter_class, self.profile, agency=self.agency)
        return asyncio.run(run_hostile_battery(self.profile, timeout=timeout))

    def _adapter_class(self) -> type[Adapter] | None:
        """The class the entry point names, or, for a factory function, the class of what it builds."""
        try:
            loaded = EntryPoint(name=self.agency, value=self.entry_point, group=ENTRY_POINT_GROUP).load()
        except Exception:
            return None
        if isinstance(loaded, type) and issubclass(loaded, Adapter):
            return loaded
        if self.profile is None:
            return None
        try:
            return type(build_adapter(self.profile, offline_http(self.agency, self.profile)))
        except Exception:
            return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def installed_adapters(only: Iterable[str] | None = None) -> list[InstalledAdapter]:
    """Every adapter installed under ``mpp_gateway.adapters`` (or the ``only`` ones), sorted by agency.

    A name in ``only`` that nothing is installed under comes back without a profile, so its check fails.
    """
    wanted = None if only is None else list(dict.fromkeys(only))
    found = [
        InstalledAdapter.from_entry_point(entry_point)
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
        if wanted is None or entry_point.name in wanted
    ]
    if wanted is not None:
        names = {item.agency for item in found}
        problem = f"nothing is installed under this name in the entry-point group {ENTRY_POINT_GROUP}"
        found += [InstalledAdapter(name, "", "", None, problem) for name in wanted if name not in names]
    return found


def conformance_params(*agencies: str) -> list[tuple[str, InstalledAdapter]]:
    """``(agency, installed adapter)`` pairs for ``pytest.mark.parametrize``: every installed adapter, or the named.

    Pass the second item's :meth:`InstalledAdapter.check` a part, then call ``assert_ok()`` on the report.
    """
    return [(item.agency, item) for item in installed_adapters(agencies or None)]


def conformance_tests(*agencies: str, timeout: float = DEFAULT_TIMEOUT) -> Callable[[InstalledAdapter, str], None]:
    """A pytest test function running every part of the kit on every installed adapter, or on the named ones.

    Assign it to a ``test_`` name in a test module: ``test_conformance = conformance_tests("imigrasi")``. It is
    parametrized by agency and part (``imigrasi-catalog``, ``imigrasi-error-table``, ``imigrasi-package-files``,
    ``imigrasi-hostile-battery``) and needs no pytest plugin. pytest is imported here, not at the kit's import: it
    is a test dependency.
    """
    import pytest

    params = [
        pytest.param(item, part, id=f"{item.agency}-{part}")
        for _, item in conformance_params(*agencies)
        for part in PARTS
    ]

    @pytest.mark.parametrize(("installed", "part"), params)
    def test_conformance(installed: InstalledAdapter, part: str) -> None:
        """The installed adapter passes this part of the conformance kit."""
        installed.check(part, timeout=timeout).assert_ok()

    return test_conformance
