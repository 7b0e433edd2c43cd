"""adapters.oss.client: the request on the wire, the API path, and the classification of the HTTP layer."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
import respx

from adapters import AgencyError, AgencyHttp, AgencyMisconfigured, TransientAgencyError
from adapters.oss import OssClient
from tests import fixtures

from ._support import BASE_URL, NIB, PERMIT_ID, REFERENCE, USER_KEY, assert_clean, envelope, path, reply, wire

JSON = {"content-type": "application/json"}
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


async def test_request_is_a_wrapped_json_post_with_user_key_and_reference(
    client: OssClient, router: respx.Router
) -> None:
    """A call POSTs {WRAPPER: fields} to {base}/v1/kl/rba/{method} with user_key and X-MPP-Reference."""
    route = router.post(path("inqueryNIB")).mock(return_value=reply("inquiry_nib"))
    await client.call("inqueryNIB", "INQUERYNIB", {"nib": NIB}, reference=REFERENCE)
    request = route.calls.last.request
    assert str(request.url) == f"{BASE_URL}/v1/kl/rba/inqueryNIB"
    assert request.headers["user_key"] == USER_KEY
    assert request.headers["x-mpp-reference"] == REFERENCE
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == {"INQUERYNIB": {"nib": NIB}}


async def test_without_reference_no_reference_header(client: OssClient, router: respx.Router) -> None:
    """A call without a reference sends no X-MPP-Reference header."""
    route = router.post(path("checkNIB")).mock(return_value=reply("check_nib"))
    await client.call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert "x-mpp-reference" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    ("base_url", "api_path", "expected"),
    [
        (BASE_URL, "/v1/kl/rba", f"{BASE_URL}/v1/kl/rba/checkNIB"),
        (BASE_URL, "stg/v1/kl/rba/", f"{BASE_URL}/stg/v1/kl/rba/checkNIB"),
        (BASE_URL, "", f"{BASE_URL}/checkNIB"),
        (f"{BASE_URL}/v1/kl/rba", "/v1/kl/rba", f"{BASE_URL}/v1/kl/rba/checkNIB"),
        (f"{BASE_URL}/stg/v1/kl/rba/", "/stg/v1/kl/rba", f"{BASE_URL}/stg/v1/kl/rba/checkNIB"),
    ],
    ids=["production", "staging", "root", "base-url-with-path", "staging-base-url-with-path"],
)
async def test_api_path_is_appended_once(base_url: str, api_path: str, expected: str) -> None:
    """The API path follows the base URL, unless the base URL already ends in it."""
    router = respx.Router(assert_all_mocked=True)
    route = router.post(expected).mock(return_value=reply("check_nib"))
    http = AgencyHttp(httpx.MockTransport(router.async_handler), agency="oss", base_url=base_url)
    await OssClient(http, user_key=USER_KEY, api_path=api_path).call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert route.called


@pytest.mark.parametrize("api_path", ["/v1/../admin", "/v1/kl rba", "/v1?x=1"])
def test_api_path_must_be_plain_segments(http: AgencyHttp, api_path: str) -> None:
    """An api_path that could change more than the path is refused at construction."""
    with pytest.raises(ValueError, match="api_path"):
        OssClient(http, user_key=USER_KEY, api_path=api_path)


@pytest.mark.parametrize("user_key", ["", "   ", "key\r\nX-Injected: 1"])
def test_user_key_must_be_one_non_empty_line(http: AgencyHttp, user_key: str) -> None:
    """An empty user_key, or one that would inject a header, is refused at construction."""
    with pytest.raises(ValueError, match="user_key") as caught:
        OssClient(http, user_key=user_key)
    assert "Injected" not in str(caught.value)


@pytest.mark.parametrize("method", ["", "inquery/NIB", "../admin", "check NIB"])
async def test_method_must_be_letters(client: OssClient, method: str) -> None:
    """A method name that is not plain letters never reaches the path."""
    with pytest.raises(ValueError, match="method"):
        await client.call(method, "X", {})


@pytest.mark.parametrize("reference", ["", "a b", "x" * 129, "ref\r\nX: y"])
async def test_reference_must_be_a_plain_token(client: OssClient, reference: str) -> None:
    """A reference that is not a plain token never becomes a header."""
    with pytest.raises(ValueError, match="reference"):
        await client.call("checkNIB", "CHECKNIB", {"nib": NIB}, reference=reference)


def test_repr_hides_the_user_key(client: OssClient) -> None:
    """The client's repr names the base URL and path but not the user_key."""
    text = repr(client)
    assert BASE_URL in text and "/v1/kl/rba" in text
    assert USER_KEY not in text


async def test_returns_the_inner_envelope(client: OssClient, router: respx.Router) -> None:
    """The reply's respon<method> object comes back as it is, for errors.py and mapping.py to read."""
    router.post(path("checkNIB")).mock(return_value=reply("check_nib"))
    got = await client.call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert got == fixtures.load("oss", "check_nib")["responcheckNIB"]


async def test_check_license_status_accepts_the_guides_other_reply_key(client: OssClient, router: respx.Router) -> None:
    """The guide's own example key responcheckStatusLicense is read like responcheckLicenseStatus."""
    router.post(path("checkLicenseStatus")).mock(return_value=reply("check_license_status_guide_key"))
    got = await client.call("checkLicenseStatus", "CHECKLICENSESTATUS", {"id_izin": PERMIT_ID})
    assert got["dataIZIN"]["kd_status"] == "50"


@pytest.mark.parametrize("status", [200, 400, 401, 500, 504])
async def test_an_envelope_is_returned_whatever_the_http_status(
    client: OssClient, router: respx.Router, status: int
) -> None:
    """OSS may mirror the kode in the HTTP status: an envelope with a kode is returned for errors.py to read."""
    router.post(path("inqueryNIB")).mock(return_value=envelope("inqueryNIB", status, kode=status, keterangan="x"))
    got = await client.call("inqueryNIB", "INQUERYNIB", {"nib": NIB})
    assert got["kode"] == status


HTTP_FAILURES = [
    pytest.param(500, {}, b"", TransientAgencyError, id="500"),
    pytest.param(502, {"content-type": "text/html"}, HTML, TransientAgencyError, id="502-html"),
    pytest.param(503, {}, b"Service Unavailable", TransientAgencyError, id="503"),
    pytest.param(504, JSON, b'{"message": "upstream timeout"}', TransientAgencyError, id="504-api-manager"),
    pytest.param(429, JSON, b'{"message": "API rate limit exceeded"}', TransientAgencyError, id="429"),
    pytest.param(408, {}, b"", TransientAgencyError, id="408"),
    pytest.param(401, {}, b"", AgencyMisconfigured, id="401"),
    pytest.param(403, {"content-type": "text/html"}, HTML, AgencyMisconfigured, id="403-html"),
    pytest.param(404, JSON, b'{"error": "Not Found"}', AgencyMisconfigured, id="404-wrong-path"),
    pytest.param(405, {}, b"", AgencyMisconfigured, id="405"),
    pytest.param(302, {"location": "https://sso.oss.test/login"}, b"", AgencyMisconfigured, id="302-redirect"),
    pytest.param(200, {"content-type": "text/html"}, HTML, TransientAgencyError, id="200-html"),
    pytest.param(200, JSON, HTML, TransientAgencyError, id="200-html-claiming-json"),
    pytest.param(200, JSON, b'{"responinqueryNIB": {"kode": 200, "dataN', TransientAgencyError, id="truncated"),
    pytest.param(200, JSON, b"", TransientAgencyError, id="empty-body"),
    pytest.param(204, {}, b"", TransientAgencyError, id="204-no-content"),
    pytest.param(200, JSON, b"[]", TransientAgencyError, id="json-list"),
    pytest.param(200, JSON, b"{}", TransientAgencyError, id="no-envelope"),
    pytest.param(200, JSON, b'{"responcheckNIB": {"kode": 200}}', TransientAgencyError, id="another-methods-envelope"),
    pytest.param(200, JSON, b'{"responinqueryNIB": "Sukses"}', TransientAgencyError, id="envelope-not-an-object"),
]


@pytest.mark.parametrize(("status", "headers", "body", "error"), HTTP_FAILURES)
async def test_http_layer_is_classified(
    client: OssClient,
    router: respx.Router,
    status: int,
    headers: dict[str, str],
    body: bytes,
    error: type[AgencyError],
) -> None:
    """Each failure without an OSS envelope maps to its class; transient ones say the request was sent."""
    router.post(path("inqueryNIB")).mock(return_value=wire(status, body, headers))
    with pytest.raises(error) as caught:
        await client.call("inqueryNIB", "INQUERYNIB", {"nib": NIB})
    assert type(caught.value) is error
    if isinstance(caught.value, TransientAgencyError):
        assert caught.value.sent is True
    assert caught.value.agency == "oss"
    assert_clean(caught.value)


async def test_retry_after_is_passed_on(client: OssClient, router: respx.Router) -> None:
    """A Retry-After in seconds on a 503 becomes the error's retry_after."""
    router.post(path("checkNIB")).mock(return_value=wire(503, headers={"retry-after": "120"}))
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert caught.value.retry_after == 120.0


async def test_connect_error_is_transient_and_not_sent(client: OssClient, router: respx.Router) -> None:
    """A refused connection is transient and proves the request never reached OSS."""
    router.post(path("checkNIB")).mock(side_effect=httpx.ConnectError)
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert caught.value.sent is False
    assert_clean(caught.value)


async def test_read_timeout_is_transient_and_sent(client: OssClient, router: respx.Router) -> None:
    """A read timeout is transient, and the request may have reached OSS."""
    router.post(path("checkNIB")).mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert caught.value.sent is True
    assert_clean(caught.value)


async def test_body_over_the_size_limit_is_transient(router: respx.Router) -> None:
    """A reply larger than the HTTP edge's limit is cut off as a transient failure."""
    body = fixtures.raw("oss", "inquiry_nib")
    http = AgencyHttp(
        httpx.MockTransport(router.async_handler), agency="oss", base_url=BASE_URL, max_body=len(body) - 1
    )
    router.post(path("inqueryNIB")).mock(return_value=wire(200, body, JSON))
    with pytest.raises(TransientAgencyError, match="body over"):
        await OssClient(http, user_key=USER_KEY).call("inqueryNIB", "INQUERYNIB", {"nib": NIB})


async def test_deadline_passed_sends_nothing(client: OssClient, router: respx.Router) -> None:
    """Past the request's deadline the call fails as transient, not sent, without touching the network."""
    route = router.post(path("checkNIB")).mock(return_value=reply("check_nib"))
    with pytest.raises(TransientAgencyError, match="deadline") as caught:
        await client.call("checkNIB", "CHECKNIB", {"nib": NIB}, deadline=time.monotonic() - 1)
    assert caught.value.sent is False
    assert not route.called


async def test_deadline_shortens_the_timeout(client: OssClient, router: respx.Router) -> None:
    """With little time left, the request's timeout is what is left, not the agency's default."""
    route = router.post(path("checkNIB")).mock(return_value=reply("check_nib"))
    await client.call("checkNIB", "CHECKNIB", {"nib": NIB}, deadline=time.monotonic() + 2)
    assert 0 < route.calls.last.request.extensions["timeout"]["read"] <= 2.0


async def test_client_recovers_after_failures(client: OssClient, router: respx.Router) -> None:
    """A failed call leaves nothing behind: the next one on the same client succeeds."""
    router.post(path("checkNIB")).mock(side_effect=[httpx.ConnectError("refused"), wire(503), reply("check_nib")])
    for _ in range(2):
        with pytest.raises(TransientAgencyError):
            await client.call("checkNIB", "CHECKNIB", {"nib": NIB})
    assert (await client.call("checkNIB", "CHECKNIB", {"nib": NIB}))["kode"] == 200
