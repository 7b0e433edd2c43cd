"""Fixtures for the mock tests: one shared population, a Dukcapil mock on an ephemeral port, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mocks import Citizen, MockAgency, MockCluster, Population, start_mocks
from tests.mocks.support import DukcapilClient


@pytest.fixture(scope="session")
def population() -> Population:
    return Population.generate(seed=2026, size=400)


@pytest.fixture
def citizen(population: Population) -> Citizen:
    """An active, non-duplicate citizen."""
    return population.sample("active", duplicate=False, limit=1)[0]


@pytest.fixture
async def cluster(population: Population) -> AsyncIterator[MockCluster]:
    cluster = await start_mocks(ports={"dukcapil": 0}, population=population)
    yield cluster
    await cluster.aclose()


@pytest.fixture
def agency(cluster: MockCluster) -> MockAgency:
    return cluster.agencies["dukcapil"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def dukcapil(agency: MockAgency, http: aiohttp.ClientSession) -> DukcapilClient:
    return DukcapilClient(agency, http)
