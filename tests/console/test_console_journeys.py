"""Journeys in the operations console, in a real headless chromium against a gateway and the mock agencies: a
journey run through the mocks is listed in the Journeys view, its page shows its steps with their requests and
its trace, and neither page shows the citizen's personal data."""

from __future__ import annotations

from typing import Any

import pytest

from mocks import Citizen
from tests.console.conftest import Browser, Console, open_console
from tests.fakes import consent_given_at

pytestmark = pytest.mark.slow

STEPS = ("civil_record", "health", "employment")


async def membership_check(console: Console, citizen: Citizen) -> dict[str, Any]:
    """The counter's membership check of ``citizen`` (Dukcapil and both BPJS), answered within the wait."""
    body = {
        "journey": "counter.membership-check",
        "applicant": {"nik": citizen.nik},
        "counter": {"mpp_id": "mpp-jakarta-selatan", "desk": "loket-03", "operator": "op-12"},
        "consent": {"method": "written", "reference": "F-1", "given_at": consent_given_at()},
        "payload": {"service_date": "2026-11-22"},
    }
    resp = await console.counter.post("/v1/journeys", json=body, headers={"Prefer": "wait=20"}, timeout=30)
    assert resp.status_code == 200, resp.text
    record: dict[str, Any] = resp.json()
    assert record["status"] == "completed"
    return record


def secrets(citizen: Citizen) -> dict[str, str]:
    return {
        "NIK": citizen.nik,
        "name": citizen.full_name,
        "mother's name": citizen.mother_name,
        "birth date": citizen.birth_date.isoformat(),
        "birth date (dd-mm-yyyy)": citizen.birth_date.strftime("%d-%m-%Y"),
    }


async def test_a_journey_is_listed_and_its_page_shows_its_steps(console: Console, browser: Browser) -> None:
    """The Journeys view lists the journey with its definition, MPP, status and 3 of 3 steps done; its page lists
    each step with its status and a link to its request's page, and draws the journey's trace; no NIK, name or
    birth date of the citizen appears on either page."""
    citizen = console.cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    record = await membership_check(console, citizen)
    await open_console(browser, console, "#/journeys")
    page = browser.page
    row = page.locator(f'table.journeys tr[data-journey="{record["id"]}"]')
    await row.wait_for(timeout=15_000)
    assert await row.get_attribute("data-status") == "completed"
    assert await row.locator("[data-steps]").get_attribute("data-steps") == "3/3"
    cells = await row.inner_text()
    assert "counter.membership-check" in cells and "mpp-jakarta-selatan" in cells
    assert record["subject"]["nik_masked"] in cells
    assert await page.locator("nav").get_by_role("link", name="Journeys").get_attribute("aria-current") == "page"
    await page.wait_for_timeout(2200)  # one more poll
    seen = {"journeys": await page.content() + "\n" + await page.locator("body").inner_text()}
    await browser.screenshot("journeys")

    await row.get_by_role("link", name=record["id"]).click()
    steps = page.locator("table.steps tr[data-step]")
    await steps.first.wait_for(timeout=15_000)
    assert [await steps.nth(i).get_attribute("data-step") for i in range(await steps.count())] == list(STEPS)
    by_name = {s["name"]: s for s in record["steps"]}
    for name in STEPS:
        step = page.locator(f'table.steps tr[data-step="{name}"]')
        assert await step.get_attribute("data-status") == "completed"
        link = step.get_by_role("link", name=by_name[name]["request_id"])
        assert await link.get_attribute("href") == f"#/requests/{by_name[name]['request_id']}"
    spans = page.locator("table.waterfall tr.span")
    await spans.first.wait_for(timeout=15_000)
    assert await spans.count() >= len(STEPS) + 1, "the journey's span and its steps' spans"
    assert record["trace_id"] in await page.locator("dl.summary").inner_text()
    await page.wait_for_timeout(2200)
    seen["journey"] = await page.content() + "\n" + await page.locator("body").inner_text()
    await browser.screenshot("journey")

    await step.get_by_role("link").click()  # the last step's request page
    await page.locator("ol.timeline li.attempt").first.wait_for(timeout=15_000)
    for where, text in seen.items():
        for what, value in secrets(citizen).items():
            assert value not in text, f"the {what} of the citizen appears on the {where} page"
    assert browser.errors == []
