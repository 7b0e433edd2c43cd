"""The console page against answers shaped as the ops routes document them, served by a stand-in API on a loopback
socket: what each panel draws from them, and that hostile text stays text."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.http import console_routes
from tests.console.conftest import ARTIFACTS, OPS_KEY, Browser

pytestmark = pytest.mark.slow

HOSTILE = '<img src=x id=injected onerror="document.title=1">'
NOW = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_ID = "req_01KBX5J1Y0V7Q2M3N4P5R6S7T8"


def at(seconds: float) -> str:
    return (NOW + dt.timedelta(seconds=seconds)).isoformat()


def agency(name: str, circuit: str, failure: dict[str, Any] | None = None, **figures: Any) -> dict[str, Any]:
    return {
        "agency": name, "circuit": circuit, "circuit_since": at(-95), "error_rate": figures.get("error_rate", 0.0),
        "p50_ms": figures.get("p50_ms", 84.0), "p95_ms": figures.get("p95_ms", 212.0), "in_flight": 1, "waiting": 0,
        "rate_limit": {"rate_per_second": 20, "available": 18}, "quota": None, "last_failure": failure,
    }  # fmt: skip


OVERVIEW = {
    "generated_at": at(0),
    "agencies": [
        agency("bpjs-kesehatan", "closed", p50_ms=121.0, p95_ms=388.0),
        agency("bpjs-ketenagakerjaan", "half_open", error_rate=0.2),
        agency("dukcapil", "open", {"at": at(-3), "cause": f"the dukcapil call answered 503 {HOSTILE}",
                                    "problem": "agency-unavailable"}, error_rate=1.0, p50_ms=None, p95_ms=None),
        agency("oss", "closed"),
    ],
    "queue": [
        {"agency": "dukcapil", "depth": 4, "oldest_age_seconds": 42.5, "deferred": 3, "next_try_at": at(18)},
        {"agency": "oss", "depth": 0, "oldest_age_seconds": None, "deferred": 0, "next_try_at": None},
    ],
    "failures_last_hour": {"agency-unavailable": 7, "agency-timeout": 2},
}
RECORD = {
    "id": REQUEST_ID, "service": "dukcapil.nik.verify", "agency": "dukcapil", "status": "completed",
    "client_id": "counter", "counter": {"mpp_id": "mpp-jakarta-selatan", "desk": "loket-03", "operator": "op-12"},
    "subject": {"nik_masked": "3201**********01"}, "result": None, "agency_reference": None, "problem": None,
    "attempts": [
        {"number": 1, "started_at": at(0.1), "finished_at": at(2.1), "outcome": "transient",
         "detail": f"the dukcapil call timed out {HOSTILE}"},
        {"number": 2, "started_at": at(2.2), "finished_at": at(2.2), "outcome": "deferred",
         "detail": "circuit open; tried again at 01:00:07"},
        {"number": 3, "started_at": at(7.0), "finished_at": at(7.2), "outcome": "completed", "detail": None},
    ],
    "created_at": at(0), "updated_at": at(7.2), "finished_at": at(7.2), "trace_id": TRACE_ID, "purged_at": None,
}  # fmt: skip


def span(span_id: str, parent: str | None, name: str, start: float, end: float, status: str = "OK") -> dict[str, Any]:
    return {
        "span_id": span_id, "parent_span_id": parent, "name": name, "kind": "INTERNAL", "start": at(start),
        "end": at(end), "duration_ms": (end - start) * 1000, "status": status,
        "attributes": {"mpp.agency": "dukcapil", "note": HOSTILE}, "events": [],
    }  # fmt: skip


TRACE = {
    "trace_id": TRACE_ID,
    "spans": [
        span("a1", None, "POST /v1/requests", 0, 0.05),
        span("b1", None, "dispatch dukcapil.nik.verify", 0.1, 7.2),
        span("c1", "b1", "dukcapil call", 0.1, 2.1, "ERROR"),
        span("c2", "b1", "dukcapil call", 7.0, 7.2),
        span("d1", "c2", "POST /api/v1/verifikasi", 7.01, 7.19),
    ],
    "jaeger_url": f"http://127.0.0.1:16686/trace/{TRACE_ID}",
}
LEVELS = {
    "from": at(-86400), "to": at(0), "bucket": "hour", "group_by": ["agency"],
    "rows": [
        {"bucket_start": at(-7200 + h * 3600), "agency": name, "requests": n, "completed": n - f - r, "rejected": r,
         "failed": f, "failed_by_problem": {"agency-unavailable": f} if f else {}, "p50_ms": 90.0, "p95_ms": 240.0,
         "p99_ms": 400.0, "availability": 1.0 - f / n, "journeys_within_visit": None, "ratings": 0,
         "rating_mean": None, "rating_elements": {}}
        for name, per_hour in (("dukcapil", [(30, 1, 0), (42, 3, 1), (25, 2, 9)]), ("oss", [(12, 0, 0), (9, 1, 0)]))
        for h, (n, r, f) in enumerate(per_hour)
    ],
}  # fmt: skip


@pytest.fixture
async def stand_in() -> AsyncIterator[str]:
    """The console's files from the package and the ops routes answering the documented shapes."""

    def guarded(body: dict[str, Any]) -> Any:
        async def handler(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {OPS_KEY}":
                return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
            return web.json_response(body)

        return handler

    app = web.Application()
    app.add_routes(console_routes())
    app.add_routes(
        [
            web.get("/v1/ops/overview", guarded(OVERVIEW)),
            web.get("/v1/requests", guarded({"requests": [RECORD], "next_cursor": None})),
            web.get(f"/v1/requests/{REQUEST_ID}", guarded(RECORD)),
            web.get(f"/v1/traces/{TRACE_ID}", guarded(TRACE)),
            web.get("/v1/reports/service-levels", guarded(LEVELS)),
        ]
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def sign_in(browser: Browser, url: str, route: str) -> None:
    await browser.page.goto(f"{url}/console{route}")
    await browser.page.get_by_role("textbox", name="Ops key").fill(OPS_KEY)
    await browser.page.get_by_role("button", name="Open console").click()


async def assert_nothing_injected(browser: Browser) -> None:
    assert await browser.page.locator("#injected").count() == 0
    assert await browser.page.title() != "1"
    assert HOSTILE in await browser.page.locator("main").inner_text(), "hostile text is shown as text"


async def test_overview_colours_circuits_and_names_causes(stand_in: str, browser: Browser) -> None:
    """Each circuit is a coloured text label (closed green, half open amber, open red), with figures and cause."""
    await sign_in(browser, stand_in, "#/")
    page = browser.page
    rows = page.locator("table.agencies tbody tr")
    await rows.first.wait_for()
    colours = {}
    for name in ("dukcapil", "bpjs-ketenagakerjaan", "oss"):
        label = page.locator(f'table.agencies tr[data-agency="{name}"] .circuit')
        colours[await label.inner_text()] = await label.evaluate("e => getComputedStyle(e).color")
    assert colours == {"open": "rgb(179, 38, 30)", "half open": "rgb(138, 90, 0)", "closed": "rgb(30, 125, 50)"}
    dukcapil = await page.locator('table.agencies tr[data-agency="dukcapil"]').inner_text()
    assert "the dukcapil call answered 503" in dukcapil and "agency-unavailable" in dukcapil and "100.0 %" in dukcapil
    queue = await page.locator('table.queue tr[data-agency="dukcapil"]').inner_text()
    assert "43 s" in queue and "\t3\t" in queue
    assert await page.locator('table.failures tr[data-problem="agency-unavailable"] td.num').inner_text() == "7"
    await assert_nothing_injected(browser)
    assert "Live" in await page.locator("#live-text").inner_text()
    await browser.screenshot("stand-in-overview")
    assert browser.errors == []


async def test_request_page_draws_timeline_and_nested_waterfall(stand_in: str, browser: Browser) -> None:
    """The request page lists attempts, deferral included, and draws spans nested by parent, placed by start."""
    await sign_in(browser, stand_in, f"#/requests/{REQUEST_ID}")
    page = browser.page
    await page.locator("table.waterfall tr.span").first.wait_for()
    outcomes = await page.locator("ol.timeline li.attempt").evaluate_all("l => l.map(e => e.dataset.outcome)")
    assert outcomes == ["transient", "deferred", "completed"]
    assert "Deferral #2" in await page.locator("ol.timeline").inner_text()
    summary = await page.locator("dl.summary").inner_text()
    assert "3201**********01" in summary and "mpp-jakarta-selatan / loket-03" in summary
    order = await page.locator("table.waterfall tr.span").evaluate_all(
        "l => l.map(e => [e.dataset.spanId, Number(e.dataset.depth)])"
    )
    assert order == [["a1", 0], ["b1", 0], ["c1", 1], ["c2", 1], ["d1", 2]]
    bar = page.locator('tr[data-span-id="c2"] rect')
    assert float(await bar.get_attribute("x") or 0) == pytest.approx(7.0 / 7.2 * 1000, abs=0.2)
    assert await page.locator('tr[data-span-id="c1"] rect').get_attribute("class") == "bar error"
    assert await page.get_by_role("link", name="Open this trace in Jaeger").get_attribute("href") == TRACE["jaeger_url"]
    await assert_nothing_injected(browser)
    await browser.screenshot("stand-in-request")
    assert browser.errors == []


async def test_service_level_charts_draw_the_report_rows(stand_in: str, browser: Browser) -> None:
    """One stacked chart per group whose bars carry the report's counts per hour."""
    await sign_in(browser, stand_in, "#/service-levels")
    page = browser.page
    figure = page.locator('figure.chart-card[data-group="dukcapil"]')
    await figure.wait_for()
    bars = await figure.locator("g.bucket").evaluate_all(
        "l => l.map(g => [+g.dataset.requests, +g.dataset.completed, +g.dataset.rejected, +g.dataset.failed])"
    )
    assert bars == [[30, 29, 1, 0], [42, 38, 3, 1], [25, 14, 2, 9]]
    assert await figure.get_attribute("data-requests") == "97"
    assert await page.locator("table.report tbody tr").count() == len(LEVELS["rows"])
    await browser.screenshot("stand-in-service-levels")
    assert browser.errors == []


async def test_a_refused_key_is_asked_again(stand_in: str, browser: Browser) -> None:
    """A key the gateway refuses is dropped from the tab and the key form comes back with the reason."""
    await browser.page.goto(f"{stand_in}/console#/")
    await browser.page.get_by_role("textbox", name="Ops key").fill("mppk_wrong")
    await browser.page.get_by_role("button", name="Open console").click()
    await browser.page.get_by_text("The key was refused (401).").wait_for()
    assert await browser.page.evaluate("sessionStorage.length") == 0


async def test_readme_screenshot(stand_in: str, browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview with an outage, at a README-friendly size (written to test-artifacts/console/readme.png)."""
    failure = OVERVIEW["agencies"][2]["last_failure"]
    monkeypatch.setitem(failure, "cause", "the dukcapil call answered 503 (3 in a row)")
    await browser.page.set_viewport_size({"width": 1280, "height": 760})
    await sign_in(browser, stand_in, "#/")
    await browser.page.locator('table.agencies tr[data-agency="dukcapil"]').wait_for()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = Path(ARTIFACTS / "readme.png")
    await browser.page.screenshot(path=str(path))
    assert (await asyncio.to_thread(path.stat)).st_size < 300_000
