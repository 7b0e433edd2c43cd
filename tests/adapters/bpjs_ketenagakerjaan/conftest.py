"""Fixtures of the BPJS Ketenagakerjaan adapter tests: respx through an injected transport, never its global mode."""

from __future__ import annotations

import httpx
import pytest
import respx

from adapters import AdapterContext, AgencyHttp
from adapters.bpjs_ketenagakerjaan import BpjsKetenagakerjaanAdapter, BpjsTkClient

from ._support import API_KEY, BASE_URL, SETTINGS


@pytest.fixture
def router() -> respx.Router:
    """A router that fails the test on any request it has no route for."""
    return respx.Router(base_url=BASE_URL, assert_all_mocked=True)


@pytest.fixture
def http(router: respx.Router) -> AgencyHttp:
    """The agency's HTTP edge, its transport answered by ``router``."""
    return AgencyHttp(httpx.MockTransport(router.async_handler), agency="bpjs-ketenagakerjaan", base_url=BASE_URL)


@pytest.fixture
def client(http: AgencyHttp) -> BpjsTkClient:
    """A client with the test API key."""
    return BpjsTkClient(http, api_key=API_KEY)


@pytest.fixture
def adapter(http: AgencyHttp) -> BpjsKetenagakerjaanAdapter:
    """The adapter built as the gateway builds it."""
    return BpjsKetenagakerjaanAdapter(AdapterContext(http=http, settings=SETTINGS))
