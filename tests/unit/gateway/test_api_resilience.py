"""Idempotency keys, fast failure on an open circuit, agency health, events and webhooks, through the API."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from gateway import Client, ClientDirectory, Settings, build_app, hash_key
from gateway.http import STATE
from tests.fakes import KEY_A, KEY_B, FakeAdapter, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}


async def submit(client: TestClient[Any, Any], body: dict[str, Any], key: str | None, *, api_key: str = KEY_A,
                 wait: int = 5) -> Any:  # fmt: skip
    headers = {"Authorization": f"Bearer {api_key}", "Prefer": f"wait={wait}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/v1/requests", json=body, headers=headers)


async def test_submission_without_idempotency_key_is_refused(gateway_client: TestClient[Any, Any]) -> None:
    """A submission needs an Idempotency-Key: 400 problem, nothing stored."""
    resp = await submit(gateway_client, envelope("fake.thing.submit"), None)
    assert resp.status == 400
    assert (await resp.json())["type"] == "/problems/idempotency-key-required"


async def test_same_key_same_body_is_the_same_request(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Retrying with the same key and body returns the first request, marked replayed, and runs it once."""
    first = await submit(gateway_client, envelope("fake.thing.submit"), "k-1")
    second = await submit(gateway_client, envelope("fake.thing.submit"), "k-1")
    assert first.status == 200 and second.status == 200
    assert (await first.json())["id"] == (await second.json())["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(fake_adapter.calls) == 1


async def test_same_key_other_body_is_a_clear_422(gateway_client: TestClient[Any, Any]) -> None:
    """The same key with a different body is refused, naming the header."""
    await submit(gateway_client, envelope("fake.thing.submit"), "k-2")
    resp = await submit(gateway_client, envelope("fake.thing.submit", payload={"value": "other"}), "k-2")
    assert resp.status == 422
    problem = await resp.json()
    assert problem["type"] == "/problems/idempotency-key-reused"
    assert problem["errors"][0]["field"] == "Idempotency-Key"


async def test_keys_are_scoped_per_client(gateway_client: TestClient[Any, Any]) -> None:
    """Two clients using the same key make two requests."""
    a = await submit(gateway_client, envelope("fake.thing.submit"), "shared")
    body_b = envelope("fake.thing.submit", counter={"mpp_id": "mpp-b", "desk": "d", "operator": "o"})
    b = await submit(gateway_client, body_b, "shared", api_key=KEY_B)
    assert (await a.json())["id"] != (await b.json())["id"]


async def test_concurrent_retries_with_one_key_make_one_request(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Ten simultaneous posts with one key all answer the same request id; the agency sees one call."""
    responses = await asyncio.gather(*(submit(gateway_client, envelope("fake.thing.submit"), "k-c") for _ in range(10)))
    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    await asyncio.sleep(0.1)
    assert len(fake_adapter.calls) == 1


async def test_open_circuit_answers_lookups_503_with_retry_after(gateway_client: TestClient[Any, Any]) -> None:
    """While the agency's circuit is open a lookup is answered at once: 503, Retry-After, and shown in /v1/agencies."""
    state = gateway_client.app[STATE]
    guard = state.dispatcher.guards["fake"]
    for _ in range(guard.policy.breaker_min_calls):
        guard.breaker.record(False)
    resp = await submit(gateway_client, envelope(), None)
    assert resp.status == 503
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["type"] == "/problems/agency-unavailable"
    agencies = (await (await gateway_client.get("/v1/agencies", headers=AUTH)).json())["agencies"]
    assert agencies[0]["agency"] == "fake" and agencies[0]["circuit"] == "open"
    assert agencies[0]["fast_failures"] == 1


async def test_events_stream_status_changes_until_final(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """The events stream sends the record at each status change and ends at the final one."""
    fake_adapter.release.clear()
    created = await (await submit(gateway_client, envelope(), None, wait=0)).json()
    stream = await gateway_client.get(f"/v1/requests/{created['id']}/events", headers=AUTH)
    assert stream.headers["Content-Type"] == "text/event-stream"
    await asyncio.sleep(0.05)
    fake_adapter.release.set()
    text = (await asyncio.wait_for(stream.read(), 5)).decode()
    statuses = [json.loads(line[6:])["status"] for line in text.splitlines() if line.startswith("data: ")]
    assert statuses[0] in {"accepted", "in_progress"}
    assert statuses[-1] == "completed"
    assert "id: " + created["id"] + ":1" in text


async def test_events_of_another_mpps_request_are_hidden(gateway_client: TestClient[Any, Any]) -> None:
    """Another MPP's client gets 404 for the events stream too."""
    created = await (await submit(gateway_client, envelope(), None)).json()
    resp = await gateway_client.get(f"/v1/requests/{created['id']}/events",
                                    headers={"Authorization": f"Bearer {KEY_B}"})  # fmt: skip
    assert resp.status == 404


async def test_callback_needs_a_webhook_secret(gateway_client: TestClient[Any, Any]) -> None:
    """A callback_url from a client without a webhook secret is refused, naming the field."""
    resp = await submit(gateway_client, envelope(callback_url="http://127.0.0.1:9/hook"), None)
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "callback_url"


async def test_webhook_is_delivered_signed_and_retried(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]],
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
) -> None:
    """A finished request with a callback is POSTed, HMAC-signed with an event id, and retried after a 500."""
    received: list[tuple[CIMultiDict[str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.copy(), await request.read()))
        return web.Response(status=500 if len(received) == 1 else 204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = TestServer(receiver, host="127.0.0.1")
    await server.start_server()
    secret = "whsec-test"
    origin = str(server.make_url("/")).rstrip("/")
    clients = ClientDirectory([Client("c", "C", frozenset({hash_key(KEY_A)}), webhook_secret=secret,
                                      callback_origins=(origin,))])  # fmt: skip
    # The receiver is plain http on loopback: allowed only when the settings say so, as the demo's do.
    settings = dataclasses.replace(gateway_settings, callback_allow_http=True, callback_allow_networks="127.0.0.0/8")
    app = build_app(settings, clients=clients, factories={"fake": lambda context: fake_adapter})
    client = await aiohttp_client(app)
    try:
        body = envelope(callback_url=str(server.make_url("/hook")))
        record = await (await submit(client, body, None)).json()
        sender = app[STATE]
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
        assert received, "no webhook arrived"
        # Make the retry due now instead of after its backoff.
        store = sender.store
        await store._write(lambda c: c.execute("UPDATE webhooks SET next_at = 0"))  # type: ignore[attr-defined]
        for _ in range(100):
            if len(received) >= 2:
                break
            await asyncio.sleep(0.05)
        assert len(received) == 2
        headers, raw = received[1]
        event = json.loads(raw)
        assert event["request_id"] == record["id"] and event["status"] == "completed"
        assert headers["X-MPP-Event-Id"] == event["event_id"] == json.loads(received[0][1])["event_id"]
        ts, sig = (part.split("=", 1)[1] for part in headers["X-MPP-Signature"].split(","))
        expected = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(sig, expected)
    finally:
        await server.close()
