"""start_mocks: real sockets, fresh credentials per cluster, exact adapter settings, clean shutdown."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from mocks import AGENCY_PORTS, MockCluster, Population, start_mocks


def test_default_ports() -> None:
    """Each agency mock has its documented default port."""
    assert dict(AGENCY_PORTS) == {"dukcapil": 8101, "bpjs-kesehatan": 8102, "bpjs-ketenagakerjaan": 8103, "oss": 8104}


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
