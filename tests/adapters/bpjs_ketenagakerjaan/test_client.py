"""adapters.bpjs_ketenagakerjaan.client: the request on the wire, the envelope, and the bare HTTP layer."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
import respx

from adapters import AgencyError, AgencyHttp, AgencyMisconfigured, TransientAgencyError
from adapters.bpjs_ketenagakerjaan import BpjsTkClient
from tests import fixtures

from ._support import API_KEY, BASE_URL, NIK, VERIFY_PATH, assert_safe, reply, wire

JSON = {"content-type": "application/json"}
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


async def test_request_is_a_json_post_with_the_api_key(client: BpjsTkClient, router: respx.Router) -> None:
    """The call POSTs the JSON body to {base}/{path} with X-Api-Key and JSON content type."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_member_pu"))
    await client.post("api/v1/peserta/cek", {"nik": NIK})
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == f"{BASE_URL}/api/v1/peserta/cek"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == {"nik": NIK}
    assert NIK not in str(request.url)


async def test_returns_the_envelope_unclassified(client: BpjsTkClient, router: respx.Router) -> None:
    """A reply comes back as its HTTP status, kode and data, whatever the code says."""
    router.post(VERIFY_PATH).mock(return_value=reply("code_20_already_registered", 409))
    answer = await client.post("api/v1/peserta/cek", {"nik": NIK})
    assert (answer.http_status, answer.code, answer.data, answer.refused_fields) == (409, "20", None, ())


async def test_refused_fields_are_read_without_their_reasons(client: BpjsTkClient, router: respx.Router) -> None:
    """Code 30's kesalahan list yields the wire field names only."""
    router.post(VERIFY_PATH).mock(return_value=reply("code_30_invalid_data", 422))
    answer = await client.post("api/v1/peserta/cek", {"nik": NIK})
    assert answer.refused_fields == ("no_hp", "alamat.rt", "foto_ktp")


async def test_envelope_keeps_retry_after(client: BpjsTkClient, router: respx.Router) -> None:
    """A Retry-After header next to an envelope is carried on the reply."""
    router.post(VERIFY_PATH).mock(return_value=reply("code_51_population_check_down", 503, {"retry-after": "7"}))
    answer = await client.post("api/v1/peserta/cek", {"nik": NIK})
    assert (answer.code, answer.retry_after) == ("51", 7.0)


def test_repr_hides_the_api_key(client: BpjsTkClient) -> None:
    """The client's repr names the base URL and no credential."""
    assert API_KEY not in repr(client)
    assert "api_key=***" in repr(client)


@pytest.mark.parametrize("key", ["", "abc\r\nX-Evil: 1", "line\n"])
def test_unusable_api_key_is_refused_without_echo(http: AgencyHttp, key: str) -> None:
    """An empty or multi-line API key fails construction, and the message does not repeat it."""
    with pytest.raises(ValueError, match="non-empty single line") as caught:
        BpjsTkClient(http, api_key=key)
    assert not key or key not in str(caught.value)


async def test_deadline_cuts_the_timeout(client: BpjsTkClient, router: respx.Router) -> None:
    """With 2 seconds left of the request, the call's timeout is at most 2 seconds."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_member_pu"))
    await client.post("api/v1/peserta/cek", {"nik": NIK}, deadline=time.monotonic() + 2)
    timeouts = route.calls.last.request.extensions["timeout"]
    assert 0 < timeouts["read"] <= 2


async def test_past_deadline_sends_nothing(client: BpjsTkClient, router: respx.Router) -> None:
    """A call past its deadline is transient, unsent, and never reaches the wire."""
    with pytest.raises(TransientAgencyError) as caught:
        await client.post("api/v1/peserta/cek", {"nik": NIK}, deadline=time.monotonic() - 1)
    assert caught.value.sent is False
    assert not router.calls


BARE = [
    pytest.param(200, b"not json", JSON, TransientAgencyError, True, None, id="2xx-not-json"),
    pytest.param(200, b'{"kode": 0, "data": null}', JSON, TransientAgencyError, True, None, id="2xx-kode-not-text"),
    pytest.param(200, b'{"kode": "0"}', JSON, TransientAgencyError, True, None, id="2xx-kode-one-digit"),
    pytest.param(200, b"[]", JSON, TransientAgencyError, True, None, id="2xx-json-array"),
    pytest.param(200, b"", {}, TransientAgencyError, True, None, id="2xx-empty"),
    pytest.param(200, b'{"kode": "00", "data": {"kp', JSON, TransientAgencyError, True, None, id="2xx-truncated"),
    pytest.param(200, HTML, {"content-type": "text/html"}, TransientAgencyError, True, None, id="2xx-html"),
    pytest.param(502, HTML, {"content-type": "text/html"}, TransientAgencyError, True, None, id="502-html"),
    pytest.param(503, b"down", {"retry-after": "30"}, TransientAgencyError, True, 30.0, id="503"),
    pytest.param(408, b"", {}, TransientAgencyError, True, None, id="408"),
    pytest.param(429, b'{"message": "slow down"}', {"retry-after": "5"}, TransientAgencyError, False, 5.0, id="429"),
    pytest.param(401, b"Unauthorized", {}, AgencyMisconfigured, None, None, id="401-bare"),
    pytest.param(403, b"Forbidden", {}, AgencyMisconfigured, None, None, id="403-bare"),
    pytest.param(404, b"404: Not Found", {}, AgencyMisconfigured, None, None, id="404-bare"),
    pytest.param(301, b"", {"location": "https://elsewhere.test/"}, AgencyMisconfigured, None, None, id="301"),
]


@pytest.mark.parametrize(("status", "body", "headers", "error", "sent", "retry_after"), BARE)
async def test_answers_without_the_envelope_are_classified(
    client: BpjsTkClient,
    router: respx.Router,
    status: int,
    body: bytes,
    headers: dict[str, str],
    error: type[AgencyError],
    sent: bool | None,
    retry_after: float | None,
) -> None:
    """Anything that is not the service's envelope is classified by the HTTP layer, never crashes, leaks nothing."""
    router.post(VERIFY_PATH).mock(return_value=wire(status, body, headers))
    with pytest.raises(AgencyError) as caught:
        await client.post("api/v1/peserta/cek", {"nik": NIK})
    assert type(caught.value) is error
    assert caught.value.agency == "bpjs-ketenagakerjaan"
    if isinstance(caught.value, TransientAgencyError):
        assert (caught.value.sent, caught.value.retry_after) == (sent, retry_after)
    assert_safe(caught.value)


async def test_oversized_body_is_transient(router: respx.Router) -> None:
    """A body over the HTTP edge's limit is transient and not parsed."""
    http = AgencyHttp(
        httpx.MockTransport(router.async_handler), agency="bpjs-ketenagakerjaan", base_url=BASE_URL, max_body=64
    )
    body = fixtures.raw("bpjs_ketenagakerjaan", "verify_member_pu")
    router.post(VERIFY_PATH).mock(return_value=wire(200, body, JSON))
    with pytest.raises(TransientAgencyError, match="over 64 bytes"):
        await BpjsTkClient(http, api_key=API_KEY).post("api/v1/peserta/cek", {"nik": NIK})
