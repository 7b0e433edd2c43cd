"""Counter apps that are web pages on another origin, end to end over a loopback socket: CORS preflights and
answers, problems a page can read, and stream tokens for ``EventSource``, which sends no headers.

Two clients list one origin each; a third lists none. The stream tokens' clock is the test's.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import Client, ClientDirectory, Settings, build_app, configure_logging, hash_key
from gateway.http import STREAM_TOKENS
from gateway.security import StreamTokens
from gateway.telemetry import Telemetry
from tests.fakes import KEY_A, KEY_B, KEY_NARROW, FakeAdapter, envelope

ORIGIN_A = "https://counter-a.example"
ORIGIN_B = "http://localhost:5173"
STRANGER = "https://elsewhere.example"
UNKNOWN_ID = "req_01KAPZZZZZZZZZZZZZZZZZZZZZ"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Browserland:
    http: httpx.AsyncClient
    clock: Clock
    logs: io.StringIO
    spans: InMemorySpanExporter

    async def create(self, key: str = KEY_A, origin: str = ORIGIN_A) -> str:
        resp = await self.http.post("/v1/requests", json=envelope(), headers={**auth(key), "Origin": origin,
                                                                               "Prefer": "wait=5"})  # fmt: skip
        assert resp.status_code == 200, resp.text
        return str(resp.json()["id"])

    async def stream_token(self, request_id: str, key: str = KEY_A) -> dict[str, Any]:
        resp = await self.http.post(f"/v1/requests/{request_id}/stream-token", headers=auth(key))
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, prefer"}  # fmt: skip


def listed(header: str | None) -> set[str]:
    return {part.strip().lower() for part in (header or "").split(",") if part.strip()}


@pytest.fixture
async def browserland(gateway_settings: Settings, fake_adapter: FakeAdapter) -> AsyncIterator[Browserland]:
    """The gateway on a loopback port with clients of two origins and one of none; logs and spans captured."""
    logs = io.StringIO()
    configure_logging("debug", logs)
    structlog.configure(cache_logger_on_first_use=False)
    clients = ClientDirectory(
        [
            Client("counter-a", "Counter A", frozenset({hash_key(KEY_A)}), mpp_id="mpp-a", cors_origins=(ORIGIN_A,)),
            Client("counter-b", "Counter B", frozenset({hash_key(KEY_B)}), mpp_id="mpp-b", cors_origins=(ORIGIN_B,)),
            Client("kiosk", "Kiosk", frozenset({hash_key(KEY_NARROW)}), mpp_id="mpp-a"),
        ]
    )
    spans = InMemorySpanExporter()
    app = build_app(gateway_settings, clients=clients, factories={"fake": lambda context: fake_adapter},
                    transport=httpx.MockTransport(lambda request: httpx.Response(599)),
                    telemetry=Telemetry(exporter=spans))  # fmt: skip
    clock = Clock()
    app[STREAM_TOKENS] = StreamTokens(b"s" * 32, lifetime_seconds=60, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=10) as http:
            yield Browserland(http, clock, logs, spans)
    finally:
        await server.close()
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


@pytest.mark.parametrize(
    ("origin", "method", "path"),
    [
        (ORIGIN_A, "POST", "/v1/requests"),
        (ORIGIN_A, "GET", f"/v1/requests/{UNKNOWN_ID}/events"),
        (ORIGIN_B, "POST", f"/v1/requests/{UNKNOWN_ID}/stream-token"),
        (ORIGIN_B, "GET", "/v1/services"),
    ],
)
async def test_a_preflight_from_a_listed_origin_is_answered_without_a_key(
    browserland: Browserland, origin: str, method: str, path: str
) -> None:
    """OPTIONS from any client's origin: 204 with the origin, methods, the API's headers and Max-Age; no key."""
    resp = await browserland.http.options(path, headers=preflight(origin, method))
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    assert {"get", "post"} <= listed(resp.headers["Access-Control-Allow-Methods"])
    assert {"authorization", "content-type", "idempotency-key", "prefer", "traceparent"} <= listed(
        resp.headers["Access-Control-Allow-Headers"]
    )
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "origin" in listed(resp.headers["Vary"])
    assert "Access-Control-Allow-Credentials" not in resp.headers


@pytest.mark.parametrize("origin", [STRANGER, "null", "https://counter-a.example.evil.example", ORIGIN_A + ":8443"])
async def test_a_preflight_from_an_unlisted_origin_is_not_allowed(browserland: Browserland, origin: str) -> None:
    """OPTIONS from an origin no client lists: a 403 problem without Access-Control-Allow-Origin."""
    resp = await browserland.http.options("/v1/requests", headers=preflight(origin))
    assert resp.status_code == 403
    assert resp.json()["type"] == "/problems/forbidden"
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_options_without_a_preflights_headers_still_needs_a_key(browserland: Browserland) -> None:
    """An OPTIONS that is no preflight (no Access-Control-Request-Method) is an ordinary call: 401 without a key."""
    resp = await browserland.http.options("/v1/requests", headers={"Origin": ORIGIN_A})
    assert resp.status_code == 401


async def test_an_answer_is_readable_by_the_origin_of_the_client_that_called(browserland: Browserland) -> None:
    """Client A's key from A's origin: allowed and exposed headers; B's key from A's origin, or no Origin: not."""
    http = browserland.http
    own = await http.get("/v1/services", headers={**auth(KEY_A), "Origin": ORIGIN_A})
    assert own.status_code == 200
    assert own.headers["Access-Control-Allow-Origin"] == ORIGIN_A
    assert {"location", "retry-after", "preference-applied", "x-request-id", "traceresponse"} <= listed(
        own.headers["Access-Control-Expose-Headers"]
    )
    assert "Access-Control-Allow-Credentials" not in own.headers
    for headers in ({**auth(KEY_B), "Origin": ORIGIN_A}, {**auth(KEY_NARROW), "Origin": ORIGIN_A}, auth(KEY_A)):
        other = await http.get("/v1/services", headers=headers)
        assert other.status_code == 200
        assert "Access-Control-Allow-Origin" not in other.headers
        assert "origin" in listed(other.headers["Vary"])


async def test_a_created_request_exposes_its_location(browserland: Browserland) -> None:
    """POST from A's origin: the page may read Location and Preference-Applied of the answer."""
    resp = await browserland.http.post("/v1/requests", json=envelope(),
                                       headers={**auth(KEY_A), "Origin": ORIGIN_A, "Prefer": "wait=5"})  # fmt: skip
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN_A
    assert resp.headers["Location"].startswith("/v1/requests/")
    assert {"location", "preference-applied"} <= listed(resp.headers["Access-Control-Expose-Headers"])


@pytest.mark.parametrize(
    ("headers", "body", "status", "problem"),
    [
        ({}, envelope(), 401, "unauthorized"),
        ({"Authorization": "Bearer mppk_nobody-000000000000000000000000"}, envelope(), 401, "unauthorized"),
        (auth(KEY_A), envelope(counter={"mpp_id": "mpp-b", "desk": "d", "operator": "o"}), 403, "forbidden"),
        (auth(KEY_A), envelope(applicant={"nik": "0000000000000000"}), 422, "validation-error"),
    ],
    ids=["no-key", "unknown-key", "other-mpp", "bad-nik"],
)
async def test_a_problem_is_readable_by_a_listed_origin(
    browserland: Browserland, headers: dict[str, str], body: dict[str, Any], status: int, problem: str
) -> None:
    """401, 403 and 422 problems carry CORS headers for a listed origin, so the page can read them."""
    resp = await browserland.http.post("/v1/requests", json=body, headers={**headers, "Origin": ORIGIN_A})
    assert resp.status_code == status
    assert resp.json()["type"] == f"/problems/{problem}"
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN_A
    assert "www-authenticate" in listed(resp.headers["Access-Control-Expose-Headers"])
    stranger = await browserland.http.post("/v1/requests", json=body, headers={**headers, "Origin": STRANGER})
    assert stranger.status_code == status
    assert "Access-Control-Allow-Origin" not in stranger.headers


async def test_a_stream_token_opens_the_event_stream_once(browserland: Browserland) -> None:
    """A token from POST .../stream-token opens the events of its request without a key, once; then 401."""
    request_id = await browserland.create()
    resp = await browserland.http.post(f"/v1/requests/{request_id}/stream-token",
                                       headers={**auth(KEY_A), "Origin": ORIGIN_A})  # fmt: skip
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN_A
    issued = resp.json()
    assert issued["expires_in"] == 60
    assert issued["events_url"] == f"/v1/requests/{request_id}/events?token={issued['token']}"
    stream = await browserland.http.get(issued["events_url"], headers={"Origin": ORIGIN_A})
    assert stream.status_code == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert stream.headers["Access-Control-Allow-Origin"] == ORIGIN_A
    assert "event: status" in stream.text and request_id in stream.text
    again = await browserland.http.get(issued["events_url"], headers={"Origin": ORIGIN_A})
    assert again.status_code == 401
    assert again.json()["type"] == "/problems/unauthorized" and "used already" in again.json()["detail"]
    assert again.headers["Access-Control-Allow-Origin"] == ORIGIN_A


async def test_a_stream_token_expires(browserland: Browserland) -> None:
    """A token is refused once its lifetime has passed on the gateway's clock."""
    request_id = await browserland.create()
    issued = await browserland.stream_token(request_id)
    browserland.clock.now += 60
    resp = await browserland.http.get(issued["events_url"])
    assert resp.status_code == 401 and "expired" in resp.json()["detail"]


async def test_a_stream_token_opens_no_other_request(browserland: Browserland) -> None:
    """A token for one of A's requests does not open another of A's requests' events."""
    first, second = await browserland.create(), await browserland.create()
    issued = await browserland.stream_token(first)
    resp = await browserland.http.get(f"/v1/requests/{second}/events", params={"token": issued["token"]})
    assert resp.status_code == 401 and "another request" in resp.json()["detail"]
    assert (await browserland.http.get(issued["events_url"])).status_code == 200


async def test_a_stream_token_is_only_issued_for_a_visible_request(browserland: Browserland) -> None:
    """Another MPP's client, or an unknown id, gets 404 for a stream token; a call without a key 401."""
    request_id = await browserland.create()
    for path in (f"/v1/requests/{request_id}/stream-token", f"/v1/requests/{UNKNOWN_ID}/stream-token"):
        resp = await browserland.http.post(path, headers=auth(KEY_B))
        assert resp.status_code == 404 and resp.json()["type"] == "/problems/not-found"
    assert (await browserland.http.post(f"/v1/requests/{request_id}/stream-token")).status_code == 401
    # The client of the same MPP may read the request, so it may stream it.
    assert (await browserland.http.post(f"/v1/requests/{request_id}/stream-token",
                                        headers=auth(KEY_NARROW))).status_code == 200  # fmt: skip


async def test_a_stream_token_is_taken_by_no_other_route(browserland: Browserland) -> None:
    """?token= is ignored by every other route (401 without a key), and the token stays unused for its stream."""
    request_id = await browserland.create()
    issued = await browserland.stream_token(request_id)
    token = {"token": issued["token"]}
    http = browserland.http
    for resp in (
        await http.get(f"/v1/requests/{request_id}", params=token),
        await http.post(f"/v1/requests/{request_id}/stream-token", params=token),
        await http.get("/v1/services", params=token),
        await http.get("/v1/agencies", params=token),
        await http.post("/v1/requests", params=token, json=envelope()),
    ):
        assert resp.status_code == 401, resp.request.url.path
    assert (await http.get(issued["events_url"])).status_code == 200


@pytest.mark.parametrize("parameter", ["token", "api_key", "access_token", "key"])
async def test_an_api_key_in_the_query_string_opens_nothing(browserland: Browserland, parameter: str) -> None:
    """An API key as a query parameter is refused on the event stream and on the record alike."""
    request_id = await browserland.create()
    for path in (f"/v1/requests/{request_id}/events", f"/v1/requests/{request_id}"):
        resp = await browserland.http.get(path, params={parameter: KEY_A})
        assert resp.status_code == 401, path
        assert resp.json()["type"] == "/problems/unauthorized"


async def test_stream_tokens_and_keys_stay_out_of_logs_and_spans(browserland: Browserland) -> None:
    """Neither the token (used, reused, forged) nor the key appears in a log line or a span."""
    request_id = await browserland.create()
    issued = await browserland.stream_token(request_id)
    await browserland.http.get(issued["events_url"], headers={"Origin": ORIGIN_A})
    await browserland.http.get(issued["events_url"], headers={"Origin": ORIGIN_A})
    await browserland.http.get(f"/v1/requests/{request_id}/events", params={"token": KEY_A})
    # The test's own HTTP client (httpx) logs the URLs it calls; what the gateway logs is everything else.
    lines = [json.loads(line) for line in browserland.logs.getvalue().splitlines()]
    logs = "\n".join(json.dumps(e) for e in lines if not str(e.get("logger", "")).startswith(("httpx", "httpcore")))
    assert sum(e.get("route") == "/v1/requests/{request_id}/events" for e in lines) == 3
    spans = repr([(s.name, dict(s.attributes or {}), [e.attributes for e in s.events])
                  for s in browserland.spans.get_finished_spans()])  # fmt: skip
    for secret in (issued["token"], issued["token"].partition(".")[2], KEY_A):
        assert secret not in logs
        assert secret not in spans


async def test_the_openapi_document_describes_the_stream_token(browserland: Browserland) -> None:
    """The stream-token route is documented, and the event stream takes a token as the query parameter 'token'."""
    spec = (await browserland.http.get("/openapi.json")).json()
    assert spec["paths"]["/v1/requests/{request_id}/stream-token"]["post"]["operationId"] == "createStreamToken"
    events = spec["paths"]["/v1/requests/{request_id}/events"]["get"]
    assert {"streamToken": []} in events["security"] and {"apiKey": []} in events["security"]
    assert spec["components"]["securitySchemes"]["streamToken"] | {"description": ""} == {
        "type": "apiKey", "in": "query", "name": "token", "description": ""}  # fmt: skip
    others = [op for path, ops in spec["paths"].items() for op in ops.values() if not path.endswith("/events")]
    assert all({"streamToken": []} not in op.get("security", []) for op in others)
