"""Start the agency mocks on real sockets, with fresh credentials, in one call.

Integration tests and ``make run`` need the agencies listening on real ports, plus the settings to configure each
adapter with. The mocks are the installed ones: each registers a :class:`~mocks.MockSpec` under the entry-point
group ``mpp_gateway.mocks`` (the built-ins in the gateway's ``pyproject.toml``, a third-party adapter package in
its own), naming its default port and a builder returning the app and the settings (besides ``base_url``) its
adapter needs. Credentials are drawn from ``secrets`` for every cluster, so nothing in the repository works
against a mock except what the cluster hands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import web

from ._control import Control
from ._population import Population
from ._registry import AgencyPorts, discover_mocks

__all__ = ["AGENCY_PORTS", "MockAgency", "MockCluster", "start_mocks"]

# Long enough for an in-flight answer, short enough that a stuck client never stalls a test run.
_SHUTDOWN_TIMEOUT_S = 2.0

AGENCY_PORTS: Mapping[str, int] = AgencyPorts()
"""Default port of each installed agency mock (read from the ``mpp_gateway.mocks`` entry points when used)."""


@dataclass(frozen=True, slots=True)
class MockAgency:
    """One running agency mock: where it listens, how to configure its adapter, and its test controls."""

    name: str
    base_url: str
    settings: dict[str, str]
    """Exactly the settings the agency's adapter needs, ``base_url`` included."""
    app: web.Application
    control: Control


class MockCluster:
    """The running mocks and the population they share; close with :meth:`aclose` or ``async with``."""

    def __init__(self, population: Population, agencies: dict[str, MockAgency], runners: list[web.AppRunner]) -> None:
        self.population = population
        self.agencies = agencies
        self._runners = runners

    async def aclose(self) -> None:
        """Stop every mock and free its port; requests still held by a timeout fault are dropped."""
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def start_mocks(
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    *,
    population: Population | None = None,
    seed: int = 2026,
) -> MockCluster:
    """Start the agency mocks and return them running.

    ``ports`` names the agencies to start and their ports (0 picks a free one); ``None`` starts every installed
    mock on its default port (:data:`AGENCY_PORTS`). ``population`` defaults to ``Population.generate(seed)``;
    ``seed`` also seeds the fault injectors.
    """
    specs = discover_mocks(None if ports is None else ports)
    wanted = {name: spec.default_port for name, spec in specs.items()} if ports is None else dict(ports)
    unknown = sorted(set(wanted) - set(specs))
    if unknown:
        raise ValueError(f"no mock for {', '.join(unknown)}; known: {', '.join(AGENCY_PORTS)}")
    if population is None:
        population = Population.generate(seed)
    agencies: dict[str, MockAgency] = {}
    runners: list[web.AppRunner] = []
    cluster = MockCluster(population, agencies, runners)
    try:
        for name, port in wanted.items():
            control = Control(name, population, seed=seed)
            app, settings = specs[name].build(population, control)
            runner = web.AppRunner(
                app,
                handle_signals=False,
                handler_cancellation=True,  # a client that hangs up ends a held (timeout-fault) request
                access_log=None,
                shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
            )
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, host, port).start()
            base_url = _base_url(host, runner.addresses[0][1])
            adapter_url = base_url + specs[name].base_path
            agencies[name] = MockAgency(name, base_url, {"base_url": adapter_url, **settings}, app, control)
    except BaseException:
        await cluster.aclose()
        raise
    return cluster


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
