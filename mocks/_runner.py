"""Start the agency mocks on real sockets, with fresh credentials, in one call.

Integration tests and ``make run`` need the agencies listening on real ports, plus the settings to configure each
adapter with. Adding an agency is one entry in ``_AGENCIES``: its default port and a builder returning the app
and the settings (besides ``base_url``) its adapter needs. Credentials are drawn from ``secrets`` for every
cluster, so nothing in the repository works against a mock except what the cluster hands out.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Self

from aiohttp import web

from . import bpjs_kesehatan, bpjs_ketenagakerjaan, dukcapil, oss
from ._control import Control
from ._population import Population

__all__ = ["AGENCY_PORTS", "MockAgency", "MockCluster", "start_mocks"]

_Builder = Callable[[Population, Control], tuple[web.Application, dict[str, str]]]

# Long enough for an in-flight answer, short enough that a stuck client never stalls a test run.
_SHUTDOWN_TIMEOUT_S = 2.0


def _build_dukcapil(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {
        "institution": f"mpp{secrets.token_hex(4)}",
        "user_id": f"mpp_{secrets.token_hex(4)}",
        "password": secrets.token_urlsafe(18),
        # The VPN address the institution registered; Dukcapil checks the one the body claims against it.
        "ip_user": f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}",
    }
    app = dukcapil.create_app(
        population,
        institution=settings["institution"],
        user_id=settings["user_id"],
        password=settings["password"],
        ip_user=settings["ip_user"],
        control=control,
    )
    return app, settings


def _build_bpjs_ketenagakerjaan(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {"api_key": secrets.token_urlsafe(24)}
    app = bpjs_ketenagakerjaan.create_app(population, api_key=settings["api_key"], control=control)
    return app, settings


def _build_bpjs_kesehatan(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {
        "cons_id": str(10_000 + secrets.randbelow(90_000)),  # BPJS issues numeric consumer ids
        "consumer_secret": secrets.token_urlsafe(12),
        "user_key": secrets.token_hex(16),
    }
    app = bpjs_kesehatan.create_app(
        population,
        cons_id=settings["cons_id"],
        consumer_secret=settings["consumer_secret"],
        user_key=settings["user_key"],
        control=control,
    )
    return app, settings


def _build_oss(population: Population, control: Control) -> tuple[web.Application, dict[str, str]]:
    settings = {
        "user_key": secrets.token_hex(16),
        # Not the adapter's: the gateway's receiveNIB route checks the Token OSS computes from these two.
        "inbound_username": f"oss_{secrets.token_hex(4)}",
        "inbound_password": secrets.token_urlsafe(18),
    }
    return oss.create_app(population, user_key=settings["user_key"], control=control), settings


@dataclass(frozen=True, slots=True)
class _AgencySpec:
    default_port: int
    build: _Builder
    #: Where the agency's API lives under the mock's root (VClaim: ``/vclaim-rest``); the adapter's base_url ends in it.
    base_path: str = ""


_AGENCIES: Mapping[str, _AgencySpec] = MappingProxyType({
    "dukcapil": _AgencySpec(8101, _build_dukcapil),
    "bpjs-ketenagakerjaan": _AgencySpec(8103, _build_bpjs_ketenagakerjaan),
    "bpjs-kesehatan": _AgencySpec(8102, _build_bpjs_kesehatan, base_path="/vclaim-rest"),
    "oss": _AgencySpec(8104, _build_oss, base_path="/v1/kl/rba"),
})

AGENCY_PORTS: Mapping[str, int] = MappingProxyType({name: spec.default_port for name, spec in _AGENCIES.items()})
"""Default port of each agency mock."""


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

    ``ports`` names the agencies to start and their ports (0 picks a free one); ``None`` starts every agency on
    its default port (:data:`AGENCY_PORTS`). ``population`` defaults to ``Population.generate(seed)``; ``seed``
    also seeds the fault injectors.
    """
    wanted = dict(AGENCY_PORTS if ports is None else ports)
    unknown = sorted(set(wanted) - set(_AGENCIES))
    if unknown:
        raise ValueError(f"no mock for {', '.join(unknown)}; known: {', '.join(_AGENCIES)}")
    if population is None:
        population = Population.generate(seed)
    agencies: dict[str, MockAgency] = {}
    runners: list[web.AppRunner] = []
    cluster = MockCluster(population, agencies, runners)
    try:
        for name, port in wanted.items():
            control = Control(name, population, seed=seed)
            app, settings = _AGENCIES[name].build(population, control)
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
            adapter_url = base_url + _AGENCIES[name].base_path
            agencies[name] = MockAgency(name, base_url, {"base_url": adapter_url, **settings}, app, control)
    except BaseException:
        await cluster.aclose()
        raise
    return cluster


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
