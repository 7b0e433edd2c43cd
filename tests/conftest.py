"""Shared fixtures: a gateway app on a real SQLite file with the fake adapter, and its test client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import AgencyConfig, Settings, build_app
from gateway.store import generate_data_key
from tests.fakes import FakeAdapter, directory
from tests.postgres import postgres  # noqa: F401 - the session's PostgreSQL server, a fixture

GatewayFactory = Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeAdapter]]]


@pytest.fixture
def fake_adapter() -> FakeAdapter:
    """A fresh scriptable adapter."""
    return FakeAdapter()


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    """Settings with a SQLite file under the test's temporary folder and fast timings."""
    return Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        sqlite_synchronous="NORMAL",
        max_body_bytes=16 * 1024,
        dispatch_concurrency=4,
        lease_seconds=5,
        shutdown_grace_seconds=1,
        agencies={"fake": AgencyConfig(base_url="http://127.0.0.1:9")},
        data_keys=generate_data_key("test"),
    )


@pytest.fixture
async def gateway_client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
) -> TestClient[Any, Any]:
    """A test client of a gateway serving only the fake adapter."""
    app = build_app(
        gateway_settings,
        clients=directory(),
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        factories={"fake": lambda context: fake_adapter},
    )
    return await aiohttp_client(app)
