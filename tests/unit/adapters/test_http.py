"""The outbound HTTP edge: requests as built, bodies as read, transport errors as classified."""

from __future__ import annotations

import httpx
import pytest
import respx

from adapters import AgencyHttp, TransientAgencyError, parse_retry_after

BASE = "http://agency.test/api"


def http_for(router: respx.Router, **kwargs: object) -> AgencyHttp:
    return AgencyHttp(httpx.MockTransport(router.async_handler), agency="test", base_url=BASE, **kwargs)  # type: ignore[arg-type]


async def test_extra_headers_and_path_join() -> None:
    """Requests go under the base URL with the agency's extra headers, which a call's own headers override."""
    router = respx.Router()
    route = router.post(f"{BASE}/x/y").respond(200, json={"ok": True})
    http = http_for(router, extra_headers={"apikey": "K", "X-Over": "base"})
    response = await http.send(http.build("POST", "/x/y", headers={"X-Over": "call"}, content=b"{}"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    sent = route.calls.last.request
    assert sent.headers["apikey"] == "K" and sent.headers["X-Over"] == "call"


async def test_body_over_the_limit_is_transient() -> None:
    """A body over max_body is refused as a transient agency fault."""
    router = respx.Router()
    router.get(f"{BASE}/big").respond(200, content=b"x" * 2048)
    http = http_for(router, max_body=1024)
    with pytest.raises(TransientAgencyError, match="over 1024 bytes"):
        await http.send(http.build("GET", "big"))


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.ReadTimeout("slow answer"), True),
        (httpx.RemoteProtocolError("reset mid-body"), True),
        (httpx.ReadError("broken"), True),
    ],
)
async def test_transport_errors_say_whether_the_request_was_sent(error: Exception, sent: bool) -> None:
    """Only connect failures prove the agency never saw the request."""
    router = respx.Router()
    router.get(f"{BASE}/x").mock(side_effect=error)
    http = http_for(router)
    with pytest.raises(TransientAgencyError) as info:
        await http.send(http.build("GET", "x"))
    assert info.value.sent is sent
    assert info.value.agency == "test"


def test_html_error_page_is_recognised() -> None:
    """An HTML page is recognised whatever content type it claims."""
    from adapters import AgencyResponse

    page = AgencyResponse(502, httpx.Headers({"content-type": "application/json"}), b"<!DOCTYPE html><p>bad", 0.0)
    assert page.looks_like_html()
    json_body = AgencyResponse(200, httpx.Headers({"content-type": "application/json"}), b"{}", 0.0)
    assert not json_body.looks_like_html()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (None, None), ("soon", None), ("Thu, 01 Jan 1970 00:00:10 GMT", 5.0)],
)
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    """Retry-After is read as delta-seconds or an HTTP date relative to now."""
    assert parse_retry_after(value, now=5.0) == expected
