"""adapters.dukcapil.client: the request on the wire and the classification of the HTTP layer."""

from __future__ import annotations

import email.utils
import time

import httpx
import orjson
import pytest
import respx

from adapters import AgencyError, AgencyHttp, AgencyMisconfigured, TransientAgencyError
from adapters.dukcapil import DukcapilClient
from tests import fixtures

from ._support import (
    BASE_URL,
    INSTITUTION,
    IP_USER,
    NIK,
    PASSWORD,
    SECRETS,
    USER_ID,
    VERIFY_PATH,
    assert_no_secrets,
    reply,
    wire,
)

JSON = {"content-type": "application/json"}
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


async def test_request_is_a_post_to_the_institution_and_upper_cased_method(
    client: DukcapilClient, router: respx.Router
) -> None:
    """The call POSTs JSON to {base}/dukcapil/get_json/{institution}/{METHOD}, the method upper-cased."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_match"))
    await client.call("call_verify_by_elemen", {"NIK": NIK})
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/dukcapil/get_json/{INSTITUTION}/CALL_VERIFY_BY_ELEMEN"
    assert request.headers["content-type"] == "application/json"


async def test_body_carries_the_fields_and_upper_case_credentials(client: DukcapilClient, router: respx.Router) -> None:
    """The body is the fields plus USER_ID, PASSWORD and IP_USER, and no other casing of them."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_match"))
    await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK, "TRESHOLD": "80"})
    assert orjson.loads(route.calls.last.request.content) == {
        "NIK": NIK,
        "TRESHOLD": "80",
        "USER_ID": USER_ID,
        "PASSWORD": PASSWORD,
        "IP_USER": IP_USER,
    }


async def test_returns_the_first_content_element(client: DukcapilClient, router: respx.Router) -> None:
    """The reply's content[0] comes back as it is, for errors.py and mapping.py to read."""
    router.post(VERIFY_PATH).mock(return_value=reply("verify_mismatch"))
    expected = fixtures.load("dukcapil", "verify_mismatch")["content"][0]
    assert await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK}) == expected


@pytest.mark.parametrize("key", ["PASSWORD", "user_id", "Ip_User"])
async def test_fields_may_not_carry_credential_keys(client: DukcapilClient, router: respx.Router, key: str) -> None:
    """A field named like a credential, in any casing, is refused before anything is sent."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_match"))
    with pytest.raises(ValueError, match="credential keys") as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK, key: "x"})
    assert not route.called
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("institution", ["", "../admin", "a/b", "BPS?x=1", "x" * 65])
def test_institution_must_be_a_plain_path_segment(http: AgencyHttp, institution: str) -> None:
    """An institution setting that could change the path is refused at construction."""
    with pytest.raises(ValueError, match="institution"):
        DukcapilClient(http, institution=institution, user_id=USER_ID, password=PASSWORD, ip_user=IP_USER)


@pytest.mark.parametrize("method", ["", "CALL/NIK", "../CALL_NIK"])
async def test_method_must_be_a_plain_identifier(client: DukcapilClient, method: str) -> None:
    """A method name that is not an identifier never reaches the path."""
    with pytest.raises(ValueError, match="method"):
        await client.call(method, {"NIK": NIK})


def test_repr_hides_the_credentials(client: DukcapilClient) -> None:
    """The client's repr names the institution but neither the user id nor the password."""
    text = repr(client)
    assert INSTITUTION in text
    assert all(secret not in text for secret in SECRETS)


HTTP_FAILURES = [
    pytest.param(500, {}, b"", TransientAgencyError, id="500"),
    pytest.param(502, {"content-type": "text/html"}, HTML, TransientAgencyError, id="502-html"),
    pytest.param(503, {}, b"", TransientAgencyError, id="503"),
    pytest.param(504, {}, b"", TransientAgencyError, id="504"),
    pytest.param(429, {}, b"", TransientAgencyError, id="429"),
    pytest.param(408, {}, b"", TransientAgencyError, id="408"),
    pytest.param(401, {}, b"", AgencyMisconfigured, id="401"),
    pytest.param(403, {"content-type": "text/html"}, HTML, AgencyMisconfigured, id="403-html"),
    pytest.param(404, JSON, b'{"error": "Not Found"}', AgencyMisconfigured, id="404-wrong-path"),
    pytest.param(400, {}, b"", AgencyMisconfigured, id="400"),
    pytest.param(405, {}, b"", AgencyMisconfigured, id="405"),
    pytest.param(302, {"location": "https://portal.vpn/login"}, b"", AgencyMisconfigured, id="302-redirect"),
    pytest.param(200, {"content-type": "text/html"}, HTML, TransientAgencyError, id="200-html"),
    pytest.param(200, JSON, HTML, TransientAgencyError, id="200-html-claiming-json"),
    pytest.param(200, JSON, b'{"content": [{"NIK": "Ses', TransientAgencyError, id="truncated-json"),
    pytest.param(200, JSON, b"", TransientAgencyError, id="empty-body"),
    pytest.param(204, {}, b"", TransientAgencyError, id="204-no-content"),
    pytest.param(200, JSON, b"[]", TransientAgencyError, id="json-list"),
    pytest.param(200, JSON, b"{}", TransientAgencyError, id="no-content-key"),
    pytest.param(200, JSON, b'{"content": []}', TransientAgencyError, id="empty-content"),
    pytest.param(200, JSON, b'{"content": "Sesuai"}', TransientAgencyError, id="content-not-a-list"),
    pytest.param(200, JSON, b'{"content": ["Sesuai"]}', TransientAgencyError, id="content-of-strings"),
]


@pytest.mark.parametrize(("status", "headers", "body", "error"), HTTP_FAILURES)
async def test_http_layer_is_classified(
    client: DukcapilClient,
    router: respx.Router,
    status: int,
    headers: dict[str, str],
    body: bytes,
    error: type[AgencyError],
) -> None:
    """Each HTTP-level failure maps to its class; transient ones say the request was sent; no credential leaks."""
    router.post(VERIFY_PATH).mock(return_value=wire(status, body, headers))
    with pytest.raises(error) as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert type(caught.value) is error
    if isinstance(caught.value, TransientAgencyError):
        assert caught.value.sent is True
    assert caught.value.agency == "dukcapil"
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_passed_on(client: DukcapilClient, router: respx.Router, status: int) -> None:
    """A Retry-After in seconds on a 429 or 503 becomes the error's retry_after."""
    router.post(VERIFY_PATH).mock(return_value=wire(status, headers={"retry-after": "120"}))
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert caught.value.retry_after == 120.0


async def test_retry_after_http_date_is_passed_on(client: DukcapilClient, router: respx.Router) -> None:
    """A Retry-After given as an HTTP date becomes the seconds left until it."""
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    router.post(VERIFY_PATH).mock(return_value=wire(503, headers={"retry-after": when}))
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert caught.value.retry_after is not None
    assert 50.0 <= caught.value.retry_after <= 61.0


async def test_503_without_retry_after_has_none(client: DukcapilClient, router: respx.Router) -> None:
    """Without a Retry-After header the backoff policy decides: retry_after stays None."""
    router.post(VERIFY_PATH).mock(return_value=wire(503))
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert caught.value.retry_after is None


async def test_connect_error_is_transient_and_not_sent(client: DukcapilClient, router: respx.Router) -> None:
    """A refused connection is transient and proves the request never reached Dukcapil."""
    router.post(VERIFY_PATH).mock(side_effect=httpx.ConnectError)
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert caught.value.sent is False
    assert_no_secrets(caught.value)


async def test_read_timeout_is_transient_and_sent(client: DukcapilClient, router: respx.Router) -> None:
    """A read timeout is transient, and the request may have reached Dukcapil."""
    router.post(VERIFY_PATH).mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(TransientAgencyError) as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert caught.value.sent is True
    assert_no_secrets(caught.value)


async def test_body_over_the_size_limit_is_transient(router: respx.Router) -> None:
    """A reply larger than the HTTP edge's limit is cut off as a transient failure."""
    http = AgencyHttp(
        httpx.MockTransport(router.async_handler), agency="dukcapil", base_url=BASE_URL, max_body=len(HTML) - 1
    )
    small = DukcapilClient(http, institution=INSTITUTION, user_id=USER_ID, password=PASSWORD, ip_user=IP_USER)
    router.post(VERIFY_PATH).mock(return_value=wire(200, HTML, JSON))
    with pytest.raises(TransientAgencyError, match="body over"):
        await small.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})


async def test_deadline_passed_sends_nothing(client: DukcapilClient, router: respx.Router) -> None:
    """Past the request's deadline the call fails as transient, not sent, without touching the network."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_match"))
    with pytest.raises(TransientAgencyError, match="deadline") as caught:
        await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK}, deadline=time.monotonic() - 1)
    assert caught.value.sent is False
    assert not route.called


async def test_deadline_shortens_the_timeout(client: DukcapilClient, router: respx.Router) -> None:
    """With little time left, the request's timeout is what is left, not the agency's default."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_match"))
    await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK}, deadline=time.monotonic() + 2)
    timeouts = route.calls.last.request.extensions["timeout"]
    assert 0 < timeouts["read"] <= 2.0


async def test_default_timeout_without_deadline(client: DukcapilClient, router: respx.Router) -> None:
    """Without a deadline the agency's configured timeout applies."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_match"))
    await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert route.calls.last.request.extensions["timeout"]["read"] == 10.0


async def test_client_recovers_after_a_failure(client: DukcapilClient, router: respx.Router) -> None:
    """A failed call leaves nothing behind: the next one on the same client succeeds."""
    router.post(VERIFY_PATH).mock(side_effect=[httpx.ConnectError("refused"), wire(503), reply("verify_match")])
    for _ in range(2):
        with pytest.raises(TransientAgencyError):
            await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK})
    assert (await client.call("CALL_VERIFY_BY_ELEMEN", {"NIK": NIK}))["NIK"] == "Sesuai"
