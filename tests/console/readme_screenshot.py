"""Take the README's console screenshot (``docs/console.png``) from a real gateway and the mock agencies.

``.venv/bin/python -m tests.console.readme_screenshot [PATH]``: starts every mock and a gateway on loopback ports,
sends every catalogued service's sample a few times, leaves a BPJS Ketenagakerjaan submission deferred in the queue,
makes Dukcapil fail every call until its circuit opens, and photographs the console's overview in headless Debian
chromium (``MPP_TEST_CHROMIUM``, else ``/usr/bin/chromium``). The citizens are the mocks' synthetic ones.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright

from adapters.conformance import installed_adapters
from gateway import AgencyConfig, Client, ClientDirectory, Settings, build_app, hash_key
from gateway.store import generate_data_key
from mocks import AGENCY_PORTS, MockCluster, start_mocks
from tests.console.conftest import CHROMIUM, COUNTER_KEY, OPS_KEY, ops_client
from tests.fakes import consent_given_at

TARGET = Path(__file__).resolve().parents[2] / "docs" / "console.png"
COUNTER = {"mpp_id": "mpp-jakarta-selatan", "desk": "loket-03", "operator": "op-12"}


async def busy_gateway(cluster: MockCluster, folder: Path) -> TestServer:
    """A gateway on the mocks whose circuits open after a few failures, with a rate limit per agency and quick
    sweeps."""
    agencies = {
        name: AgencyConfig.from_values({**mock.settings, "timeout": "2", "breaker_min_calls": "4",
                                        "rate_per_second": "50", "rate_burst": "20"})
        for name, mock in cluster.agencies.items()
    }
    settings = Settings(
        store_path=str(folder / "gateway.sqlite3"), data_keys=generate_data_key(), dispatch_concurrency=8,
        lease_seconds=10, shutdown_grace_seconds=1, sweep_interval_seconds=0.2, agencies=agencies,
        adapters=tuple(cluster.agencies),
    )  # fmt: skip
    counter = Client("counter", "Counter", frozenset({hash_key(COUNTER_KEY)}), mpp_id=COUNTER["mpp_id"])
    server = TestServer(build_app(settings, clients=ClientDirectory([counter, ops_client()])), host="127.0.0.1")
    await server.start_server()
    return server


async def traffic(cluster: MockCluster, counter: httpx.AsyncClient) -> None:
    """Every service's sample a few times; a deferred submission; then a Dukcapil outage."""
    catalog = {s["id"]: s for s in (await counter.get("/v1/services")).json()["services"]}
    samples = [s for a in installed_adapters(cluster.agencies) if a.profile for s in a.profile.samples]

    def body(sample: Any) -> dict[str, Any]:
        out = {"service": sample.service, "applicant": {"nik": sample.nik}, "counter": COUNTER,
               "payload": dict(sample.payload)}  # fmt: skip
        if catalog[sample.service]["personal_data"]:
            out["consent"] = {"method": "written", "reference": "F-1", "given_at": consent_given_at()}
        return out

    lookups = [s for s in samples if catalog.get(s.service, {}).get("kind") == "lookup"]
    for _ in range(4):
        await asyncio.gather(*(counter.post("/v1/requests", json=body(s), headers={"Prefer": "wait=10"})
                               for s in lookups))  # fmt: skip
    submission = next(s for s in samples if catalog.get(s.service, {}).get("kind") == "submission"
                      and s.service.startswith("bpjs-ketenagakerjaan"))  # fmt: skip
    cluster.agencies["bpjs-ketenagakerjaan"].control.faults.configure({"error_rate": 1.0})
    await counter.post("/v1/requests", json=body(submission), headers={"Idempotency-Key": "readme-deferred"})
    dukcapil = [s for s in lookups if s.service.startswith("dukcapil")]
    cluster.agencies["dukcapil"].control.faults.configure({"error_rate": 1.0})
    for _ in range(3):
        await asyncio.gather(*(counter.post("/v1/requests", json=body(s), headers={"Prefer": "wait=10"})
                               for s in dukcapil))  # fmt: skip


async def main(target: Path) -> None:
    """Make the traffic, open the console and save the overview once Dukcapil's circuit shows open."""
    with tempfile.TemporaryDirectory() as folder:
        async with await start_mocks("127.0.0.1", dict.fromkeys(AGENCY_PORTS, 0)) as cluster:
            server = await busy_gateway(cluster, Path(folder))
            url = str(server.make_url("")).rstrip("/")
            try:
                auth = {"Authorization": f"Bearer {COUNTER_KEY}"}
                async with httpx.AsyncClient(base_url=url, timeout=30, headers=auth) as counter:
                    await traffic(cluster, counter)
                async with async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM)
                    page = await browser.new_page(viewport={"width": 1280, "height": 790}, locale="en-GB")
                    await page.goto(f"{url}/console#/")
                    await page.get_by_role("textbox", name="Ops key").fill(OPS_KEY)
                    await page.get_by_role("button", name="Open console").click()
                    await page.locator('table.agencies tr[data-agency="dukcapil"][data-circuit="open"]').wait_for()
                    await page.locator('table.queue tr[data-agency="bpjs-ketenagakerjaan"]').wait_for()
                    await page.screenshot(path=str(target))
                    await browser.close()
            finally:
                await server.close()


if __name__ == "__main__":
    written = Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET
    asyncio.run(main(written))
    print(f"{written}: {written.stat().st_size} bytes")
