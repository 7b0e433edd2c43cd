"""Fixtures of the OSS adapter tests: respx through an injected transport, never respx's global mode."""

from __future__ import annotations

import httpx
import pytest
import respx

from adapters import AdapterContext, AgencyHttp
from adapters.oss import OssAdapter, OssClient

from ._support import BASE_URL, SETTINGS, USER_KEY


@pytest.fixture
def router() -> respx.Router:
    """A router that fails the test on any request it has no route for."""
    return respx.Router(base_url=BASE_URL, assert_all_mocked=True)


@pytest.fixture
def http(router: respx.Router) -> AgencyHttp:
    """OSS's HTTP edge, its transport answered by ``router``."""
    return AgencyHttp(httpx.MockTransport(router.async_handler), agency="oss", base_url=BASE_URL)


@pytest.fixture
def client(http: AgencyHttp) -> OssClient:
    """A client with the test user_key and the production API path."""
    return OssClient(http, user_key=USER_KEY)


@pytest.fixture
def adapter(http: AgencyHttp) -> OssAdapter:
    """The adapter built as the gateway builds it."""
    return OssAdapter(AdapterContext(http=http, settings=SETTINGS))
