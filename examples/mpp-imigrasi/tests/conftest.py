"""Fixtures of the adapter's tests: respx through an injected transport, and the package's own mock."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from adapters import AdapterContext, AgencyHttp

from mpp_imigrasi import ImigrasiAdapter
from mpp_imigrasi.mock import RunningMock, start_mock

BASE_URL = "https://imigrasi.example.test/api"
SETTINGS = {"token": "test-token-1f9a7c3e", "office": "IMIGRASI-BANDUNG"}
#: A Monday, so that the mock's schedule is predictable.
TODAY = dt.date(2026, 1, 5)


@pytest.fixture
def settings() -> dict[str, str]:
    """The adapter settings the ``adapter`` fixture is built with (the token is fake)."""
    return dict(SETTINGS)


@pytest.fixture
def router() -> respx.Router:
    """A router that fails the test on any request it has no route for."""
    return respx.Router(base_url=BASE_URL, assert_all_mocked=True)


@pytest.fixture
def adapter(router: respx.Router) -> ImigrasiAdapter:
    """The adapter over respx, built as the gateway builds it."""
    http = AgencyHttp(httpx.MockTransport(router.async_handler), agency="imigrasi", base_url=BASE_URL)
    return ImigrasiAdapter(AdapterContext(http=http, settings=SETTINGS))


@pytest.fixture
async def mock() -> AsyncIterator[RunningMock]:
    """The package's mock on a free loopback port, its schedule starting after ``TODAY``."""
    async with await start_mock(today=TODAY, days=7, capacity=2) as running:
        yield running
