"""The operations console in a real headless chromium, against a gateway and the mock agencies on loopback
sockets: live agency state, a request's timeline and trace, service-level charts and CSV, no personal data, no
network beyond the gateway."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.http import CONSOLE_CSP
from mocks import Citizen
from tests.console.conftest import ARTIFACTS, Browser, Console, open_console
from tests.fakes import consent_given_at

pytestmark = pytest.mark.slow

WAIT = {"Prefer": "wait=10"}
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"


def verify(citizen: Citizen, *, right: bool = True) -> dict[str, Any]:
    """A dukcapil.nik.verify request for ``citizen`` carrying their name and birth date."""
    return {
        "service": "dukcapil.nik.verify",
        "applicant": {"nik": citizen.nik},
        "counter": {"mpp_id": "mpp-jakarta-selatan", "desk": "loket-03", "operator": "op-12"},
        "payload": {
            "full_name": citizen.full_name if right else "Nama Lain",
            "birth_date": citizen.birth_date.isoformat(),
        },
    }


def lookup(citizen: Citizen) -> dict[str, Any]:
    """A dukcapil.nik.lookup request for ``citizen``, with consent."""
    return {
        "service": "dukcapil.nik.lookup",
        "applicant": {"nik": citizen.nik},
        "counter": {"mpp_id": "mpp-jakarta-selatan", "desk": "loket-03", "operator": "op-12"},
        "payload": {},
        "consent": {"method": "written", "reference": "F-1", "given_at": consent_given_at()},
    }


async def make(console: Console, body: dict[str, Any]) -> dict[str, Any]:
    """Send one request as the counter and wait for its record."""
    resp = await console.counter.post("/v1/requests", json=body, headers=WAIT)
    assert resp.status_code in {200, 201, 202}, resp.text
    record: dict[str, Any] = resp.json()
    return record


async def test_console_files_are_served_with_a_strict_policy(console: Console) -> None:
    """/console and its script and style come from the package with a self-only CSP, revalidated by ETag."""
    async with httpx.AsyncClient(base_url=console.url) as anonymous:
        page = await anonymous.get("/console")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CONSOLE_CSP
        assert "default-src 'self'" in CONSOLE_CSP and "unsafe-inline" not in CONSOLE_CSP
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert 'src="/console/console.js"' in page.text and "<script>" not in page.text
        assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "the page loads nothing from elsewhere"
        for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
            asset = await anonymous.get(f"/console/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
            assert "innerHTML" not in asset.text and "http://" not in asset.text.replace("http://www.w3.org", "")
            again = await anonymous.get(f"/console/{name}", headers={"If-None-Match": asset.headers["etag"]})
            assert again.status_code == 304 and again.content == b""
        missing = await anonymous.get("/console/secrets.txt")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


async def test_key_is_asked_once_per_tab(console: Console, browser: Browser) -> None:
    """The page asks for the ops key, keeps it for the tab (a reload does not ask again) and forgets it on request."""
    await open_console(browser, console)
    page = browser.page
    await page.get_by_role("heading", name="Agencies").wait_for()
    await page.reload()
    await page.get_by_role("heading", name="Agencies").wait_for()
    assert await page.get_by_role("textbox", name="Ops key").count() == 0
    await page.get_by_role("button", name="Forget key").click()
    await page.get_by_role("textbox", name="Ops key").wait_for()
    assert await page.evaluate("sessionStorage.length") == 0
    assert browser.errors == []


async def test_outage_turns_the_agency_red_with_its_cause(console: Console, browser: Browser) -> None:
    """Dukcapil failing every call turns its row red (circuit open) within seconds, with the failure's cause."""
    citizens = console.cluster.population.sample(status="active", duplicate=False, limit=8)
    await make(console, verify(citizens[0]))
    await open_console(browser, console)
    page = browser.page
    row = page.locator('table.agencies tr[data-agency="dukcapil"]')
    await row.wait_for()
    assert await row.get_attribute("data-circuit") == "closed"
    await browser.screenshot("overview-healthy")
    async with httpx.AsyncClient() as control:
        faults = await control.put(
            f"{console.cluster.agencies['dukcapil'].base_url}/_control/faults", json={"error_rate": 1.0}
        )
    assert faults.status_code in {200, 204}
    sent = await asyncio.gather(*(console.counter.post("/v1/requests", json=verify(c)) for c in citizens[1:]))
    assert {r.status_code for r in sent} <= {200, 201, 202}
    red = page.locator('table.agencies tr[data-agency="dukcapil"][data-circuit="open"]')
    await red.wait_for(timeout=15_000)  # the page polls every 2 s: no reload
    assert await red.locator(".circuit").inner_text() == "open"
    colour = await red.locator(".circuit").evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(179, 38, 30)"
    cause = (await red.locator(".cause-text").inner_text()).strip()
    assert cause and cause != "—"
    await browser.screenshot("overview-outage")
    shutil.copyfile(ARTIFACTS / "overview-outage.png", ARTIFACTS / "readme-candidate.png")
    assert browser.errors == []


async def test_request_page_shows_its_attempts_as_a_timeline(console: Console, browser: Browser) -> None:
    """A request's page lists its record and each attempt with outcome and time, in order."""
    citizen = console.cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    record = await make(console, verify(citizen))
    await open_console(browser, console, f"#/requests/{record['id']}")
    page = browser.page
    attempts = page.locator("ol.timeline li.attempt")
    await attempts.first.wait_for()
    assert await attempts.count() == len(record["attempts"]) >= 1
    assert await attempts.first.get_attribute("data-outcome") == record["attempts"][0]["outcome"]
    assert record["subject"]["nik_masked"] in await page.locator("dl.summary").inner_text()
    await browser.screenshot("request-timeline")
    assert browser.errors == []


async def test_request_page_shows_its_trace_as_a_waterfall(console: Console, browser: Browser) -> None:
    """A request's page draws its trace's spans as bars placed by start and nested under their parents."""
    citizen = console.cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    record = await make(console, verify(citizen))
    trace = (await console.ops.get(f"/v1/traces/{record['trace_id']}")).json()
    await open_console(browser, console, f"#/requests/{record['id']}")
    page = browser.page
    rows = page.locator("table.waterfall tr.span")
    await rows.first.wait_for()
    assert await rows.count() == len(trace["spans"]) >= 2
    ids = {s["span_id"] for s in trace["spans"]}
    depths = [int(await rows.nth(i).get_attribute("data-depth") or 0) for i in range(await rows.count())]
    nested = [s for s in trace["spans"] if s["parent_span_id"] in ids]
    assert nested and max(depths) >= 1, "child spans are drawn under their parent"
    bars = page.locator("table.waterfall rect.bar")
    widths = [float(await bars.nth(i).get_attribute("width") or 0) for i in range(await bars.count())]
    assert max(widths) == pytest.approx(1000, abs=1), "the longest span spans the waterfall"
    await browser.screenshot("request-trace")
    assert browser.errors == []


async def test_service_level_chart_and_csv_agree_with_the_requests(console: Console, browser: Browser) -> None:
    """The service-level chart, its CSV and the requests made count the same completed and rejected requests."""
    citizens = console.cluster.population.sample(status="active", duplicate=False, limit=5)
    made = [await make(console, verify(c, right=i % 2 == 0)) for i, c in enumerate(citizens)]
    expected = {s: sum(r["status"] == s for r in made) for s in ("completed", "rejected", "failed")}
    await open_console(browser, console, "#/service-levels?group_by=agency&bucket=day")
    page = browser.page
    figure = page.locator('figure.chart-card[data-group="dukcapil"]')
    await figure.wait_for(timeout=15_000)
    drawn = {s: int(await figure.get_attribute(f"data-{s}") or -1) for s in expected}
    assert drawn == expected
    assert int(await figure.get_attribute("data-requests") or -1) == len(made)
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download CSV").click()
    download = await waiting.value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "service-levels.csv"
    await download.save_as(str(target))
    rows = [r for r in csv.DictReader(io.StringIO(target.read_text())) if r.get("agency") == "dukcapil"]
    assert {s: sum(int(r[s]) for r in rows) for s in expected} == expected
    assert sum(int(r["requests"]) for r in rows) == len(made)
    await browser.screenshot("service-levels")
    assert browser.errors == []


async def test_no_personal_data_on_any_console_page(console: Console, browser: Browser) -> None:
    """No NIK, name or birth date of the citizens served appears in any console page's text or HTML, nor the report."""
    citizens = console.cluster.population.sample(status="active", duplicate=False, limit=3)
    made = [await make(console, verify(citizens[0])), await make(console, verify(citizens[1], right=False))]
    made.append(await make(console, lookup(citizens[2])))
    await open_console(browser, console)
    page = browser.page
    await page.get_by_role("heading", name="Agencies").wait_for()
    seen: dict[str, str] = {}
    for name, route in [
        ("overview", "#/"),
        ("requests", "#/requests"),
        *((f"request-{i}", f"#/requests/{r['id']}") for i, r in enumerate(made)),
        ("service-levels", "#/service-levels?group_by=agency,service&bucket=hour"),
    ]:
        await page.goto(f"{console.url}/console{route}")
        await page.wait_for_timeout(2500)  # at least one poll of every panel of the view
        seen[name] = await page.content() + "\n" + await page.locator("body").inner_text()
    for fmt in ("json", "csv"):
        report = await console.ops.get("/v1/reports/service-levels", params={"format": fmt})
        seen[f"report.{fmt}"] = report.text
    for citizen in citizens:
        secrets = {
            "NIK": citizen.nik,
            "name": citizen.full_name,
            "mother's name": citizen.mother_name,
            "birth date": citizen.birth_date.isoformat(),
            "birth date (dd-mm-yyyy)": citizen.birth_date.strftime("%d-%m-%Y"),
        }
        for where, text in seen.items():
            for what, value in secrets.items():
                assert value not in text, f"the {what} of a citizen appears on {where}"
    assert browser.errors == []


async def test_console_reaches_nothing_but_the_gateway(console: Console, browser: Browser) -> None:
    """With every other host blocked, the console loads and works, and no request of it left 127.0.0.1."""
    citizen = console.cluster.population.sample(status="active", duplicate=False, limit=1)[0]
    await make(console, verify(citizen))
    await open_console(browser, console)
    page = browser.page
    await page.get_by_role("heading", name="Agencies").wait_for()
    for route in ("#/requests", "#/service-levels"):
        await page.goto(f"{console.url}/console{route}")
        await page.wait_for_timeout(2200)
    assert await page.locator("nav").get_by_role("link", name="Service levels").get_attribute("aria-current") == "page"
    hosts = {re.sub(r"^[a-z]+://([^/:]+).*$", r"\1", url) for url in browser.requested}
    assert hosts == {"127.0.0.1"}, hosts
    assert any(url.endswith("/console/console.js") for url in browser.requested)
    assert any("/v1/" in url for url in browser.requested), "the page called the gateway's API"
    await browser.screenshot("service-levels-offline")
    assert browser.errors == []


def test_readme_screenshot_is_small() -> None:
    """The README's console screenshot exists and stays small."""
    assert DOCS_SCREENSHOT.exists()
    assert DOCS_SCREENSHOT.stat().st_size < 300_000
