"""Fixtures of the Dukcapil adapter tests: respx through an injected transport, never respx's global mode."""

from __future__ import annotations

import httpx
import pytest
import respx

from adapters import AdapterContext, AgencyHttp
from adapters.dukcapil import DukcapilAdapter, DukcapilClient

from ._support import BASE_URL, INSTITUTION, IP_USER, PASSWORD, SETTINGS, USER_ID


@pytest.fixture
def router() -> respx.Router:
    """A router that fails the test on any request it has no route for."""
    return respx.Router(base_url=BASE_URL, assert_all_mocked=True)


@pytest.fixture
def http(router: respx.Router) -> AgencyHttp:
    """Dukcapil's HTTP edge, its transport answered by ``router``."""
    return AgencyHttp(httpx.MockTransport(router.async_handler), agency="dukcapil", base_url=BASE_URL)


@pytest.fixture
def client(http: AgencyHttp) -> DukcapilClient:
    """A client with the test credentials."""
    return DukcapilClient(http, institution=INSTITUTION, user_id=USER_ID, password=PASSWORD, ip_user=IP_USER)


@pytest.fixture
def adapter(http: AgencyHttp) -> DukcapilAdapter:
    """The adapter built as the gateway builds it."""
    return DukcapilAdapter(AdapterContext(http=http, settings=SETTINGS))
