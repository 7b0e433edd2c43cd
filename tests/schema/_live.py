"""The real gateway and the real agency mocks on loopback sockets, served from an event loop in a thread.

Schemathesis drives an API through ``requests``, synchronously; the gateway is aiohttp. So the gateway and
mocks get a loop of their own in a background thread and the test talks to them over real sockets, as a
counter app would.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from adapters import discover_factories
from gateway import (
    BUILTIN_PROBLEMS,
    AgencyConfig,
    Client,
    ClientDirectory,
    ProblemCatalog,
    Settings,
    build_app,
    build_openapi,
    build_registry,
    hash_key,
    placeholder_settings,
)
from gateway.http import inbound_routes
from gateway.store import generate_data_key
from mocks import AGENCY_PORTS, MockCluster, start_mocks

T = TypeVar("T")

#: What every answer is held to. Left out on purpose: ``positive_data_acceptance`` (the published body schema is
#: looser than the contract: the NIK's rules and some payload rules are checked beyond it, so a schema-valid
#: body may rightly get 422), and ``negative_data_rejection`` and ``missing_required_header``: ``/oss/receiveNIB``,
#: the one operation with a required header (OSS's ``Token``), answers every call with 200 and a refusal in OSS's
#: envelope, as OSS's protocol requires. The stateful checks need links the document does not declare.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
    allow_header_conformance,
    ignored_auth,
]

#: A regional client granted every service: it may act for any MPP, so every generated counter is its own.
ALL_SERVICES_KEY = "mppk_schema-test-every-service-000000000000"


def all_services_directory() -> ClientDirectory:
    """One client with every grant and no MPP of its own."""
    return ClientDirectory([Client("regional", "Regional portal", frozenset({hash_key(ALL_SERVICES_KEY)}))])


class LiveGateway:
    """Gateway plus every mock, started and stopped from synchronous code."""

    def __init__(self, store_path: Path) -> None:
        self._store_path = store_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-gateway", daemon=True)
        self._runner: web.AppRunner | None = None
        self.cluster: MockCluster | None = None
        self.url = ""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the gateway's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> None:
        """Start the loop, the mocks and the gateway; ``url`` is the gateway's base URL afterwards."""
        self._thread.start()
        self.url = self.run(self._start())

    def stop(self) -> None:
        """Stop the gateway, the mocks and the loop, releasing every socket."""
        try:
            self.run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _start(self) -> str:
        self.cluster = await start_mocks("127.0.0.1", dict.fromkeys(AGENCY_PORTS, 0))
        agencies = {
            name: AgencyConfig.from_values({**agency.settings, "timeout": "2"})
            for name, agency in self.cluster.agencies.items()
        }
        settings = Settings(
            store_path=str(self._store_path),
            data_keys=generate_data_key(),
            sqlite_synchronous="NORMAL",
            # Short waits and deadlines keep every generated request, however it is spelled, within seconds.
            max_wait_seconds=1.0,
            lookup_deadline_seconds=3.0,
            dispatch_concurrency=8,
            lease_seconds=10,
            shutdown_grace_seconds=1,
            sweep_interval_seconds=0.5,
            adapters=tuple(self.cluster.agencies),
            agencies=agencies,
        )
        self._runner = web.AppRunner(build_app(settings, clients=all_services_directory()), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.cluster is not None:
            await self.cluster.aclose()


@functools.cache
def offline_document() -> dict[str, Any]:
    """The document a gateway with every built-in agency serves, built without starting anything."""
    factories = discover_factories(tuple(AGENCY_PORTS))
    registry = build_registry(
        placeholder_settings(list(factories), factories), httpx.MockTransport(_unreachable), factories
    )
    problems = ProblemCatalog([*BUILTIN_PROBLEMS, *registry.problem_types()])
    services = [service for _, service in registry.services.values()]
    return build_openapi(services, problems=problems, inbound=inbound_routes(registry.adapters.values()))


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError("describing the services calls no agency")
