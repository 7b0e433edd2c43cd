"""Integration fixtures: the real mock agencies and a real gateway, each on its own loopback socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import AgencyConfig, Settings, build_app
from gateway.store import generate_data_key
from mocks import MockCluster, start_mocks
from tests.fakes import KEY_A, directory


@pytest.fixture
async def cluster() -> AsyncIterator[MockCluster]:
    """Every mock agency on a free loopback port."""
    async with await start_mocks("127.0.0.1", {"dukcapil": 0}) as running:
        yield running


async def start_gateway(
    cluster: MockCluster, tmp_path: Path, *, overrides: dict[str, dict[str, str]] | None = None
) -> TestServer:
    """A gateway wired to the mocks through the real outbound transport, listening on a real socket."""
    agencies = {}
    for name, agency in cluster.agencies.items():
        values = {**agency.settings, **(overrides or {}).get(name, {})}
        agencies[name] = AgencyConfig.from_values({**values, "timeout": "2"})
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys=generate_data_key(),
        dispatch_concurrency=8,
        lease_seconds=10,
        shutdown_grace_seconds=1,
        agencies=agencies,
        adapters=tuple(cluster.agencies),
    )
    app: web.Application = build_app(settings, clients=directory())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def gateway(cluster: MockCluster, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client (counter app A) for a gateway connected to the mocks."""
    server = await start_gateway(cluster, tmp_path)
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {KEY_A}"}, timeout=20
        ) as client:
            yield client
    finally:
        await server.close()


def verify_body(nik: str, **payload: Any) -> dict[str, Any]:
    """A dukcapil.nik.verify request from counter app A."""
    return {
        "service": "dukcapil.nik.verify",
        "applicant": {"nik": nik},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-03", "operator": "op-12"},
        "payload": payload,
    }
