"""Every adapter installed under ``mpp_gateway.adapters`` passes the conformance kit; one without a profile fails.

The adapters are found as the gateway finds them, through the entry points; each is checked in every part of the
kit (catalog, error table, hostile battery). The batteries of all adapters run at once, in one event loop, so the
module takes about one battery's time however many adapters are installed. The kit's own tests are in
``tests/adapters/conformance/``.
"""

from __future__ import annotations

import asyncio
import functools

import pytest

from adapters import discover_factories
from adapters.conformance import PARTS, BatteryReport, InstalledAdapter, conformance_params, run_hostile_battery

from .conformance._support import assert_conformant

INSTALLED = conformance_params()


@functools.cache
def batteries() -> dict[str, BatteryReport]:
    """The hostile battery's report of every installed adapter that has a profile, run concurrently once."""

    async def run_all() -> dict[str, BatteryReport]:
        profiles = {agency: item.profile for agency, item in INSTALLED if item.profile is not None}
        reports = await asyncio.gather(*(run_hostile_battery(profile) for profile in profiles.values()))
        return dict(zip(profiles, reports, strict=True))

    return asyncio.run(run_all())


def test_the_kit_sees_every_adapter_the_gateway_loads() -> None:
    """The kit checks exactly the installed entry points, Dukcapil among them."""
    assert sorted(agency for agency, _ in INSTALLED) == sorted(discover_factories())
    assert "dukcapil" in dict(INSTALLED)


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize(("agency", "installed"), INSTALLED, ids=[agency for agency, _ in INSTALLED])
def test_installed_adapter_conforms(agency: str, installed: InstalledAdapter, part: str) -> None:
    """The adapter publishes <package>.conformance.PROFILE and passes this part of the kit."""
    assert installed.profile is not None, f"{agency}: {installed.problem}"
    report = batteries()[agency] if part == "hostile-battery" else installed.check(part)
    assert_conformant(report)
