"""adapters.bpjs_kesehatan.client: signed requests, the HTTP layer, the envelope and the encrypted response."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import orjson
import pytest
import respx

from adapters import AgencyError, AgencyHttp, AgencyMisconfigured, TransientAgencyError
from adapters.bpjs_kesehatan import VClaimClient
from adapters.bpjs_kesehatan.client import FORM_CONTENT_TYPE
from adapters.bpjs_kesehatan.crypto import response_key
from mocks.bpjs_crypto import encrypt, encrypt_response
from tests import fixtures

from ._support import (
    BASE_URL,
    CONS_ID,
    JSON,
    NIK_PATH,
    NOW,
    SECRET,
    SECRETS,
    TIMESTAMP,
    USER_KEY,
    assert_no_secrets,
    clock,
    encrypted_reply,
    envelope,
    reply,
    wire,
)

HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
PATH = NIK_PATH.lstrip("/")


def _client(http: AgencyHttp, now: object) -> VClaimClient:
    assert callable(now)
    return VClaimClient(http, cons_id=CONS_ID, consumer_secret=SECRET, user_key=USER_KEY, clock=now)


async def test_request_is_a_signed_get_under_the_base_url(client: VClaimClient, router: respx.Router) -> None:
    """The lookup GETs {base}/Peserta/... with the four VClaim headers under their documented names."""
    route = router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_active"))
    await client.get(PATH)
    request = route.calls.last.request
    assert request.method == "GET"
    assert str(request.url) == BASE_URL + NIK_PATH
    sent = dict(request.headers.raw)
    assert sent[b"X-cons-id"] == b"1234"
    assert sent[b"X-timestamp"] == b"433223232"
    assert sent[b"X-signature"] == b"eXMtvX2r7e7CLCIu3kpEpCrvciZgK8FuOhKv06NDAHk="
    assert sent[b"user_key"] == USER_KEY.encode()
    assert request.content == b""


async def test_returns_the_decrypted_response(client: VClaimClient, router: respx.Router) -> None:
    """A code-200 reply comes back with its response decrypted and decoded, as the reference encrypted it."""
    router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_active"))
    result = await client.get(PATH)
    assert result.code == "200"
    assert result.response == fixtures.load("bpjs_kesehatan", "peserta_active")
    assert "RATNA" not in repr(result)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(NOW + dt.timedelta(microseconds=999_999), TIMESTAMP, id="fraction-dropped"),
        pytest.param(NOW.astimezone(dt.timezone(dt.timedelta(hours=7))), TIMESTAMP, id="other-zone-same-instant"),
        pytest.param(NOW.replace(tzinfo=None), TIMESTAMP, id="naive-read-as-utc"),
        pytest.param(dt.datetime(2026, 1, 5, 3, 0, tzinfo=dt.UTC), "1767582000", id="2026"),
    ],
)
def test_timestamp_is_whole_utc_seconds_of_the_clock(http: AgencyHttp, now: dt.datetime, expected: str) -> None:
    """X-timestamp is the injected clock's Unix time in whole seconds, as a decimal string."""
    assert _client(http, lambda: now).timestamp() == expected


async def test_each_reply_is_opened_with_its_own_requests_timestamp(http: AgencyHttp, router: respx.Router) -> None:
    """With a moving clock, every reply decrypts with the X-timestamp its own request carried."""
    ticks = iter(NOW + dt.timedelta(seconds=s) for s in range(0, 300, 7))
    client = _client(http, lambda: next(ticks))

    def answer(request: httpx.Request) -> httpx.Response:
        return encrypted_reply({"echo": request.headers["x-timestamp"]}, timestamp=request.headers["x-timestamp"])

    router.get(NIK_PATH).mock(side_effect=answer)
    seen = [(await client.get(PATH)).response["echo"] for _ in range(3)]
    assert seen == ["433223232", "433223239", "433223246"]


async def test_reply_encrypted_for_another_timestamp_is_transient(client: VClaimClient, router: respx.Router) -> None:
    """A response encrypted with another request's key cannot be read: transient, and nothing leaks."""
    router.get(NIK_PATH).mock(return_value=encrypted_reply({"peserta": {"nama": "X"}}, timestamp="433223299"))
    with pytest.raises(TransientAgencyError) as caught:
        await client.get(PATH)
    assert caught.value.sent is True
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("code", ["201", "401", "408", "999"])
async def test_other_codes_come_back_without_decrypting(client: VClaimClient, router: respx.Router, code: str) -> None:
    """Only code 200 carries data: other codes return with response None, whatever rides along."""
    body = {"metaData": {"code": code, "message": "Gagal"}, "response": "not-even-base64!"}
    router.get(NIK_PATH).mock(return_value=wire(200, orjson.dumps(body), JSON))
    result = await client.get(PATH)
    assert (result.code, result.response) == (code, None)


@pytest.mark.parametrize(("raw", "code"), [(200, "200"), (" 201 ", "201"), (201, "201")])
async def test_numeric_or_padded_codes_are_read_as_strings(
    client: VClaimClient, router: respx.Router, raw: object, code: str
) -> None:
    """A code sent as a number, or with spaces, is read as its string."""
    body = {"metaData": {"code": raw, "message": "OK"}, "response": None}
    router.get(NIK_PATH).mock(return_value=wire(200, orjson.dumps(body), JSON))
    assert (await client.get(PATH)).code == code


@pytest.mark.parametrize("response", [None, ""])
async def test_success_without_a_response_has_none(
    client: VClaimClient, router: respx.Router, response: object
) -> None:
    """A code-200 reply with a null or empty response returns None for the mapping to judge."""
    body = {"metaData": {"code": "200", "message": "OK"}, "response": response}
    router.get(NIK_PATH).mock(return_value=wire(200, orjson.dumps(body), JSON))
    assert (await client.get(PATH)).response is None


async def test_post_sends_json_as_form_content_type(client: VClaimClient, router: respx.Router) -> None:
    """A body goes out as JSON under 'Application/x-www-form-urlencoded', as VClaim clients send it."""
    route = router.post("/SEP/2.0/insert").mock(return_value=encrypted_reply({"ok": True}))
    result = await client.call("post", "SEP/2.0/insert", body={"request": {"t_sep": {"noKartu": "1"}}})
    request = route.calls.last.request
    assert request.headers["content-type"] == FORM_CONTENT_TYPE == "Application/x-www-form-urlencoded"
    assert orjson.loads(request.content) == {"request": {"t_sep": {"noKartu": "1"}}}
    assert result.response == {"ok": True}


@pytest.mark.parametrize("path", ["", "/Peserta", "../admin", "Peserta/nik/1 2", "Peserta/?x=1", "Peserta//nik"])
async def test_only_plain_paths_reach_the_wire(client: VClaimClient, router: respx.Router, path: str) -> None:
    """A path with traversal, spaces, queries or empty segments is refused before anything is sent."""
    with pytest.raises(ValueError, match="plain segments"):
        await client.get(path)
    assert not router.calls


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cons_id", ""),
        ("cons_id", "12 34"),
        ("cons_id", "1234\r\nX-Evil: 1"),
        ("user_key", ""),
        ("user_key", "key\n"),
        ("consumer_secret", ""),
    ],
)
def test_settings_that_could_break_headers_are_refused(http: AgencyHttp, field: str, value: str) -> None:
    """Empty values, and header values with spaces or line breaks, fail at construction without echoing them."""
    values = {"cons_id": CONS_ID, "consumer_secret": SECRET, "user_key": USER_KEY, field: value}
    with pytest.raises(ValueError, match=field) as caught:
        VClaimClient(http, clock=clock, **values)
    assert not value.strip() or value not in str(caught.value)


def test_repr_hides_the_credentials(client: VClaimClient) -> None:
    """The client's repr names neither the consumer id nor the secret nor the user key."""
    text = repr(client)
    assert CONS_ID not in text
    assert all(secret not in text for secret in SECRETS)


HTTP_FAILURES = [
    pytest.param(500, {}, b"", TransientAgencyError, id="500"),
    pytest.param(502, {"content-type": "text/html"}, HTML, TransientAgencyError, id="502-html"),
    pytest.param(503, {}, b"", TransientAgencyError, id="503"),
    pytest.param(504, {}, b"", TransientAgencyError, id="504"),
    pytest.param(429, JSON, b'{"message": "API rate limit exceeded"}', TransientAgencyError, id="429"),
    pytest.param(408, {}, b"", TransientAgencyError, id="408"),
    pytest.param(401, {}, b"", AgencyMisconfigured, id="401"),
    pytest.param(403, {"content-type": "text/html"}, HTML, AgencyMisconfigured, id="403-html"),
    pytest.param(404, {"content-type": "text/html"}, HTML, AgencyMisconfigured, id="404-html-wrong-path"),
    pytest.param(400, {}, b"", AgencyMisconfigured, id="400"),
    pytest.param(302, {"location": "https://apijkn.test/login"}, b"", AgencyMisconfigured, id="302-redirect"),
    pytest.param(200, {"content-type": "text/html"}, HTML, TransientAgencyError, id="200-html"),
    pytest.param(200, JSON, HTML, TransientAgencyError, id="200-html-claiming-json"),
]

BAD_ENVELOPES = [
    pytest.param(b'{"metaData": {"code": "20', id="truncated-json"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"OK", id="plain-text"),
    pytest.param(b"[]", id="json-list"),
    pytest.param(b"{}", id="no-metadata"),
    pytest.param(b'{"metadata": {"code": 200, "message": "Ok"}, "response": null}', id="antrean-lower-case"),
    pytest.param(b'{"metaData": "200"}', id="metadata-not-an-object"),
    pytest.param(b'{"metaData": {"message": "OK"}, "response": null}', id="no-code"),
    pytest.param(b'{"metaData": {"code": true}, "response": null}', id="boolean-code"),
    pytest.param(b'{"metaData": {"code": "  "}, "response": null}', id="blank-code"),
    pytest.param(b'{"metaData": {"code": "200"}, "response": {"peserta": {}}}', id="unencrypted-object"),
    pytest.param(b'{"metaData": {"code": "200"}, "response": 12}', id="number-response"),
    pytest.param(b'{"metaData": {"code": "200"}, "response": "%%%%"}', id="response-not-base64"),
    pytest.param(b'{"metaData": {"code": "200"}, "response": "AAAAAAAAAAAAAAAAAAAAAA=="}', id="bad-padding"),
]


@pytest.mark.parametrize(("status", "headers", "body", "error"), HTTP_FAILURES)
async def test_http_layer_is_classified(
    client: VClaimClient,
    router: respx.Router,
    status: int,
    headers: dict[str, str],
    body: bytes,
    error: type[AgencyError],
) -> None:
    """Each HTTP-level failure maps to its class; transient ones say the request was sent; no credential leaks."""
    router.get(NIK_PATH).mock(return_value=wire(status, body, headers))
    with pytest.raises(error) as caught:
        await client.get(PATH)
    assert type(caught.value) is error
    if isinstance(caught.value, TransientAgencyError):
        assert caught.value.sent is True
    assert caught.value.agency == "bpjs-kesehatan"
    assert_no_secrets(caught.value)


@pytest.mark.parametrize("body", BAD_ENVELOPES)
async def test_replies_that_are_not_vclaims_are_transient(
    client: VClaimClient, router: respx.Router, body: bytes
) -> None:
    """A body that is not the envelope, or a response that does not decrypt, is transient and sent."""
    router.get(NIK_PATH).mock(return_value=wire(200, body, JSON))
    with pytest.raises(TransientAgencyError) as caught:
        await client.get(PATH)
    assert caught.value.sent is True
    assert caught.value.__cause__ is None
    assert_no_secrets(caught.value)


@pytest.mark.parametrize(
    ("encrypted", "message"),
    [
        pytest.param(
            encrypt_response("Peserta RATNA <b>", cons_id=CONS_ID, consumer_secret=SECRET, timestamp=TIMESTAMP),
            "not JSON",
            id="decompresses-to-non-json",
        ),
        pytest.param(
            encrypt("RATNA DEWI caf\u00e9", response_key(CONS_ID, SECRET, TIMESTAMP)),
            "not lz-string",
            id="decrypts-to-non-ascii",
        ),
        pytest.param(
            encrypt("@RATNA DEWI", response_key(CONS_ID, SECRET, TIMESTAMP)), "decompress", id="not-lz-string"
        ),
    ],
)
async def test_unreadable_plaintext_never_rides_along(
    client: VClaimClient, router: respx.Router, encrypted: str, message: str
) -> None:
    """A response that decrypts to something unusable is transient, and no link of the chain holds the plaintext."""
    body = orjson.dumps({"metaData": {"code": "200"}, "response": encrypted})
    router.get(NIK_PATH).mock(return_value=wire(200, body, JSON))
    with pytest.raises(TransientAgencyError, match=message) as caught:
        await client.get(PATH)
    assert_no_secrets(caught.value, "RATNA")


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_passed_on(client: VClaimClient, router: respx.Router, status: int) -> None:
    """A Retry-After in seconds on a 429 or 503 becomes the error's retry_after."""
    router.get(NIK_PATH).mock(return_value=wire(status, headers={"retry-after": "120"}))
    with pytest.raises(TransientAgencyError) as caught:
        await client.get(PATH)
    assert caught.value.retry_after == 120.0


async def test_503_without_retry_after_has_none(client: VClaimClient, router: respx.Router) -> None:
    """Without a Retry-After header the backoff policy decides: retry_after stays None."""
    router.get(NIK_PATH).mock(return_value=wire(503))
    with pytest.raises(TransientAgencyError) as caught:
        await client.get(PATH)
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("failure", "sent"), [(httpx.ConnectError, False), (httpx.ConnectTimeout, False), (httpx.ReadTimeout, True)]
)
async def test_transport_failures_say_whether_sent(
    client: VClaimClient, router: respx.Router, failure: type[Exception], sent: bool
) -> None:
    """A refused connection was never sent; a read timeout may have reached BPJS."""
    router.get(NIK_PATH).mock(side_effect=failure)
    with pytest.raises(TransientAgencyError) as caught:
        await client.get(PATH)
    assert caught.value.sent is sent
    assert_no_secrets(caught.value)


async def test_body_over_the_size_limit_is_transient(router: respx.Router) -> None:
    """A reply larger than the HTTP edge's limit is cut off as a transient failure."""
    http = AgencyHttp(
        httpx.MockTransport(router.async_handler), agency="bpjs-kesehatan", base_url=BASE_URL, max_body=100
    )
    router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_active"))
    with pytest.raises(TransientAgencyError, match="body over"):
        await _client(http, clock).get(PATH)


async def test_deadline_passed_sends_nothing(client: VClaimClient, router: respx.Router) -> None:
    """Past the request's deadline the call fails as transient, not sent, without touching the network."""
    route = router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_active"))
    with pytest.raises(TransientAgencyError, match="deadline") as caught:
        await client.get(PATH, deadline=time.monotonic() - 1)
    assert caught.value.sent is False
    assert not route.called


async def test_deadline_shortens_the_timeout(client: VClaimClient, router: respx.Router) -> None:
    """With little time left, the request's timeout is what is left, not the agency's default."""
    route = router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_active"))
    await client.get(PATH, deadline=time.monotonic() + 2)
    assert 0 < route.calls.last.request.extensions["timeout"]["read"] <= 2.0


async def test_client_recovers_after_failures(client: VClaimClient, router: respx.Router) -> None:
    """A failed call leaves nothing behind: the next one on the same client succeeds."""
    router.get(NIK_PATH).mock(
        side_effect=[httpx.ConnectError("refused"), wire(503), wire(200, b"{}", JSON), reply("envelope_peserta_active")]
    )
    for _ in range(3):
        with pytest.raises(TransientAgencyError):
            await client.get(PATH)
    assert (await client.get(PATH)).response == fixtures.load("bpjs_kesehatan", "peserta_active")


def test_envelope_helper_round_trips() -> None:
    """The tests' own envelope helper makes what the client reads (a guard on the helper, not the client)."""
    assert orjson.loads(envelope({"a": 1}))["metaData"]["code"] == "200"
