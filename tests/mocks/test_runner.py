"""start_mocks: the installed mocks, real sockets, fresh credentials per cluster, exact settings, clean shutdown."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from importlib import metadata
from typing import Any

import aiohttp
import pytest

from mocks import (
    AGENCY_PORTS,
    MOCK_ENTRY_POINT_GROUP,
    MockCluster,
    MockSpec,
    Population,
    discover_mocks,
    start_mocks,
)

from . import third_party_mock

BUILT_IN = {"dukcapil": 8101, "bpjs-kesehatan": 8102, "bpjs-ketenagakerjaan": 8103, "oss": 8104}

Register = Callable[..., None]


@pytest.fixture
def register(monkeypatch: pytest.MonkeyPatch) -> Register:
    """Adds entry points to mpp_gateway.mocks, as an installed third-party package would; ``only`` hides the rest."""

    def add(*values: tuple[str, str], only: bool = False) -> None:
        real = metadata.entry_points
        extra = [metadata.EntryPoint(name, value, MOCK_ENTRY_POINT_GROUP) for name, value in values]

        def entry_points(**selection: Any) -> Any:
            found = [] if only and selection.get("group") == MOCK_ENTRY_POINT_GROUP else list(real(**selection))
            return found + (extra if selection.get("group") == MOCK_ENTRY_POINT_GROUP else [])

        monkeypatch.setattr(metadata, "entry_points", entry_points)

    return add


def test_default_ports() -> None:
    """The built-in mocks are installed through the entry-point group, each on its documented port."""
    assert {name: AGENCY_PORTS[name] for name in BUILT_IN} == BUILT_IN
    assert {name: discover_mocks()[name].default_port for name in BUILT_IN} == BUILT_IN
    assert len(set(AGENCY_PORTS.values())) == len(AGENCY_PORTS), "two installed mocks share a default port"


def test_agency_ports_follow_the_entry_points(register: Register) -> None:
    """A mock registered under mpp_gateway.mocks appears in AGENCY_PORTS with its default port; none is cached."""
    assert third_party_mock.AGENCY not in AGENCY_PORTS
    register((third_party_mock.AGENCY, "tests.mocks.third_party_mock:MOCK"))
    assert AGENCY_PORTS[third_party_mock.AGENCY] == 8199
    assert set(BUILT_IN) | {third_party_mock.AGENCY} <= set(AGENCY_PORTS)
    assert discover_mocks([third_party_mock.AGENCY]) == {third_party_mock.AGENCY: third_party_mock.MOCK}


async def test_a_mock_registered_through_the_entry_point_group_is_started(
    register: Register, population: Population
) -> None:
    """start_mocks starts a registered third-party mock: its settings, base path, controls and deliveries."""
    register((third_party_mock.AGENCY, "tests.mocks.third_party_mock:MOCK"))
    async with await start_mocks(ports={third_party_mock.AGENCY: 0, "dukcapil": 0}, population=population) as cluster:
        assert set(cluster.agencies) == {third_party_mock.AGENCY, "dukcapil"}
        agency = cluster.agencies[third_party_mock.AGENCY]
        assert set(agency.settings) == {"base_url", "key"}
        assert agency.settings["base_url"] == agency.base_url + "/api"
        headers = {"X-Key": agency.settings["key"]}
        async with aiohttp.ClientSession() as http:
            async with http.get(agency.settings["base_url"] + "/hello", headers=headers) as resp:
                assert (resp.status, await resp.json()) == (200, {"hello": third_party_mock.AGENCY})
            async with http.get(f"{agency.base_url}/_control/health") as resp:
                assert (await resp.json())["agency"] == third_party_mock.AGENCY
        assert agency.control.deliveries.count("hello") == 1


async def test_without_ports_every_installed_mock_starts_on_its_default_port(
    register: Register, population: Population, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ports=None starts exactly the installed mocks, each on the default port its entry point declares."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    monkeypatch.setattr(third_party_mock, "ON_FREE_PORT", dataclasses.replace(third_party_mock.MOCK, default_port=free))
    register((third_party_mock.AGENCY, "tests.mocks.third_party_mock:ON_FREE_PORT"), only=True)
    async with await start_mocks(population=population) as cluster:
        assert list(cluster.agencies) == [third_party_mock.AGENCY]
        assert cluster.agencies[third_party_mock.AGENCY].base_url == f"http://127.0.0.1:{free}"


def test_an_entry_point_that_is_not_a_mock_spec_is_refused(register: Register) -> None:
    """An entry point naming anything but a MockSpec fails loudly, naming the entry point."""
    register(("broken", "tests.mocks.third_party_mock:NOT_A_SPEC"))
    with pytest.raises(TypeError, match=r"broken = 'tests\.mocks\.third_party_mock:NOT_A_SPEC' names a dict"):
        discover_mocks(["broken"])
    assert "dukcapil" in discover_mocks(["dukcapil"]), "asking only for others does not load it"


def test_two_packages_claiming_one_agency_are_refused(register: Register) -> None:
    """Two entry points under one name are a conflict, not a silent choice."""
    register(("dukcapil", "tests.mocks.third_party_mock:MOCK"))
    with pytest.raises(ValueError, match=r"two mpp_gateway\.mocks entry points claim 'dukcapil'"):
        discover_mocks(["dukcapil"])


@pytest.mark.parametrize(("fields", "message"), [({"default_port": 0}, "TCP port"),
                                                 ({"base_path": "api"}, "base_path"),
                                                 ({"base_path": "/api/"}, "base_path")])
def test_malformed_specs_are_refused(fields: dict[str, Any], message: str) -> None:
    """A spec the runner could not serve fails when declared."""
    with pytest.raises(ValueError, match=message):
        MockSpec(**{"build": third_party_mock.build, "default_port": 8199, **fields})


async def test_settings_are_exactly_what_the_adapter_needs(cluster: MockCluster) -> None:
    """Dukcapil's settings hold base_url, institution, user_id, password and ip_user, all non-empty text."""
    agency = cluster.agencies["dukcapil"]
    assert agency.name == "dukcapil"
    assert set(agency.settings) == {"base_url", "institution", "user_id", "password", "ip_user"}
    assert all(isinstance(v, str) and v for v in agency.settings.values())
    assert agency.settings["base_url"] == agency.base_url
    host, port = agency.base_url.removeprefix("http://").split(":")
    assert host == "127.0.0.1" and int(port) > 0


async def test_each_cluster_draws_fresh_credentials(population: Population) -> None:
    """Two clusters never share institution, user, password or IP."""
    async with (
        await start_mocks(ports={"dukcapil": 0}, population=population) as one,
        await start_mocks(ports={"dukcapil": 0}, population=population) as two,
    ):
        first, second = one.agencies["dukcapil"].settings, two.agencies["dukcapil"].settings
        assert all(first[k] != second[k] for k in first)


async def test_the_mock_answers_on_its_base_url(cluster: MockCluster) -> None:
    """The base URL reaches the agency and its control routes, sharing the cluster's population."""
    agency = cluster.agencies["dukcapil"]
    async with aiohttp.ClientSession() as http, http.get(f"{agency.base_url}/_control/citizens?limit=1") as resp:
        nik = (await resp.json())["citizens"][0]["nik"]
    assert cluster.population.get(nik) is not None
    assert agency.control.population is cluster.population


async def test_default_population_follows_the_seed() -> None:
    """Without a population, the cluster generates one from its seed."""
    async with await start_mocks(ports={"dukcapil": 0}, seed=5) as cluster:
        assert cluster.population.citizens == Population.generate(seed=5).citizens


async def test_unknown_agency_is_refused() -> None:
    """Asking for a mock that does not exist raises before anything starts."""
    with pytest.raises(ValueError, match="no mock for samsat"):
        await start_mocks(ports={"samsat": 0})


async def test_aclose_frees_the_port(population: Population) -> None:
    """After aclose the port refuses connections, and a second aclose is harmless."""
    cluster = await start_mocks(ports={"dukcapil": 0}, population=population)
    url = cluster.agencies["dukcapil"].base_url
    await cluster.aclose()
    await cluster.aclose()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{url}/_control/health")


async def test_a_busy_port_fails_the_start_cleanly(population: Population) -> None:
    """When the port is taken, start_mocks raises the bind error (after closing what it had set up)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="address already in use"):
            await start_mocks(ports={"dukcapil": taken.getsockname()[1]}, population=population)
