"""Fixtures of the BPJS Kesehatan adapter tests: respx through an injected transport, never respx's global mode."""

from __future__ import annotations

import httpx
import pytest
import respx

from adapters import AdapterContext, AgencyHttp
from adapters.bpjs_kesehatan import BpjsKesehatanAdapter, VClaimClient

from ._support import BASE_URL, CONS_ID, SECRET, SETTINGS, USER_KEY, clock


@pytest.fixture
def router() -> respx.Router:
    """A router that fails the test on any request it has no route for."""
    return respx.Router(base_url=BASE_URL, assert_all_mocked=True)


@pytest.fixture
def http(router: respx.Router) -> AgencyHttp:
    """VClaim's HTTP edge, its transport answered by ``router``."""
    return AgencyHttp(httpx.MockTransport(router.async_handler), agency="bpjs-kesehatan", base_url=BASE_URL)


@pytest.fixture
def client(http: AgencyHttp) -> VClaimClient:
    """A client with the check-vector credentials and the fixed clock."""
    return VClaimClient(http, cons_id=CONS_ID, consumer_secret=SECRET, user_key=USER_KEY, clock=clock)


@pytest.fixture
def adapter(http: AgencyHttp) -> BpjsKesehatanAdapter:
    """The adapter built as the gateway builds it, on the fixed clock."""
    return BpjsKesehatanAdapter(AdapterContext(http=http, settings=SETTINGS, clock=clock))
