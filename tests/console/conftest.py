"""Console fixtures: the mock agencies and a gateway on real loopback sockets, and a headless Debian chromium
driven by Playwright that may reach 127.0.0.1 only."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp.test_utils import TestServer

from gateway import AgencyConfig, Client, ClientDirectory, Settings, build_app, hash_key
from gateway.store import generate_data_key
from mocks import AGENCY_PORTS, MockCluster, start_mocks

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = os.environ.get("MPP_TEST_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
OPS_KEY = "mppk_test-key-console-ops-0000000000000000000"
COUNTER_KEY = "mppk_test-key-console-counter-000000000000000"


def ops_client() -> Client:
    """The operator's client: the ``ops`` role where the directory knows roles."""
    fields = {"id": "ops-console", "name": "Operations", "key_hashes": frozenset({hash_key(OPS_KEY)})}
    if "roles" in getattr(Client, "__dataclass_fields__", {}):
        fields["roles"] = frozenset({"ops"})
    return Client(**fields)


@dataclass
class Console:
    """A running gateway with its mocks, a counter client to make requests and an ops client to read them."""

    url: str
    server: TestServer
    cluster: MockCluster
    counter: httpx.AsyncClient
    ops: httpx.AsyncClient
    routes: set[str] = field(default_factory=set)

    def serves(self, path: str) -> bool:
        """Whether the gateway has a route of this canonical path."""
        return path in self.routes


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    """Every mock agency and a gateway wired to them, each on its own loopback port, with fast sweeps."""
    async with await start_mocks("127.0.0.1", dict.fromkeys(AGENCY_PORTS, 0)) as cluster:
        agencies = {
            # a few failed calls open a circuit, so an outage shows within seconds
            name: AgencyConfig.from_values({**mock.settings, "timeout": "2", "breaker_min_calls": "4"})
            for name, mock in cluster.agencies.items()
        }
        settings = Settings(
            store_path=str(tmp_path / "gateway.sqlite3"), data_keys=generate_data_key(), dispatch_concurrency=8,
            lease_seconds=10, shutdown_grace_seconds=1, sweep_interval_seconds=0.1, agencies=agencies,
            adapters=tuple(cluster.agencies),
        )  # fmt: skip
        clients = ClientDirectory(
            [
                Client("counter", "Counter", frozenset({hash_key(COUNTER_KEY)}), mpp_id="mpp-jakarta-selatan"),
                ops_client(),
            ]
        )
        app = build_app(settings, clients=clients)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        try:
            async with (
                httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {COUNTER_KEY}"}, timeout=20) as c,
                httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {OPS_KEY}"}, timeout=20) as o,
            ):
                routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
                yield Console(url, server, cluster, c, o, routes)
        finally:
            await server.close()


@dataclass
class Browser:
    """A page of headless chromium and every URL it asked for."""

    page: Any
    requested: list[str]
    #: Uncaught script errors and console errors of the page.
    errors: list[str]

    async def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot under ``test-artifacts/console/``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian chromium whose requests to any host but 127.0.0.1 are blocked (and recorded)."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    requested: list[str] = []

    async def only_loopback(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            await route.abort("blockedbyclient")

    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM)
        try:
            context = await chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
            await context.route("**/*", only_loopback)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: errors.append(msg.text) if _script_error(msg) else None)
            yield Browser(page, requested, errors)
            await context.close()
        finally:
            await chromium.close()


def _script_error(message: Any) -> bool:
    # A 404 of a route the gateway does not serve is logged by chromium too; the page shows "not available" then.
    return bool(message.type == "error" and not message.text.startswith("Failed to load resource"))


async def open_console(browser: Browser, console: Console, hash_route: str = "#/") -> None:
    """Open the console and enter the ops key, as an operator would."""
    await browser.page.goto(f"{console.url}/console{hash_route}")
    await browser.page.get_by_role("textbox", name="Ops key").fill(OPS_KEY)
    await browser.page.get_by_role("button", name="Open console").click()
