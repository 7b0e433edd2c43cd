"""Encryption at rest and retention through the HTTP API: what the database holds, what a purged record shows."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway import Settings, build_app, configure_logging
from tests.fakes import KEY_A, NIK, FakeAdapter, directory, envelope
from tests.sealed import flip_ciphertext

AUTH = {"Authorization": f"Bearer {KEY_A}"}
NAME = "SITI AMINAH BINTI SUPARDI"
Client = TestClient[Any, Any]
ClientFactory = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
def start(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter
) -> Callable[..., Awaitable[Client]]:
    """A gateway on the fake adapter with the given setting overrides (retention, housekeeping interval)."""

    async def make(**overrides: Any) -> Client:
        app = build_app(
            dataclasses.replace(gateway_settings, **overrides),
            clients=directory(),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
            factories={"fake": lambda context: fake_adapter},
        )
        return await aiohttp_client(app)

    return make


def raw(settings: Settings, sql: str, *params: Any) -> Any:
    """One statement on the gateway's SQLite file, beside the running store."""
    conn = sqlite3.connect(settings.store_path, isolation_level=None, timeout=10)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def database_bytes(settings: Settings) -> bytes:
    files = (Path(settings.store_path), Path(settings.store_path + "-wal"))
    return b"".join(p.read_bytes() for p in files if p.exists())


async def submit(client: Client, service: str = "fake.thing.lookup", **headers: str) -> Any:
    body = envelope(service, payload={"value": NAME})
    response = await client.post("/v1/requests", json=body, headers={**AUTH, "Prefer": "wait=5", **headers})
    return response.status, await response.json(), dict(response.headers)


async def test_the_database_file_holds_no_nik_or_name(
    start: Callable[..., Awaitable[Client]], gateway_settings: Settings
) -> None:
    """After a completed request the record shows the result, but the SQLite file bytes hold no NIK or name."""
    client = await start()
    status, record, _ = await submit(client)
    assert status == 200 and record["result"]["echoed"] == NAME and record["purged_at"] is None
    stored = await asyncio.to_thread(database_bytes, gateway_settings)
    assert b"mppenc:v1:test:" in stored and record["id"].encode() in stored
    assert NIK.encode() not in stored and NAME.encode() not in stored


async def test_a_purged_request_keeps_its_status_and_replays(
    start: Callable[..., Awaitable[Client]], gateway_settings: Settings, fake_adapter: FakeAdapter
) -> None:
    """Past retention the housekeeping loop purges final requests: 200 with status, no result, purged_at set;
    an Idempotency-Key replay still answers; a request not yet final keeps its data."""
    client = await start(retention_days=0.3 / 86400, housekeeping_interval_seconds=0.05)
    _, lookup, _ = await submit(client)
    _, submission, _ = await submit(client, "fake.thing.submit", **{"Idempotency-Key": "reg-1"})
    fake_adapter.release.clear()
    held = await client.post("/v1/requests", json=envelope(payload={"value": NAME}), headers=AUTH)
    held_id = (await held.json())["id"]
    for request_id in (lookup["id"], submission["id"]):
        for _ in range(200):
            record = await (await client.get(f"/v1/requests/{request_id}", headers=AUTH)).json()
            if record["purged_at"]:
                break
            await asyncio.sleep(0.05)
        assert record["purged_at"] is not None, request_id
        assert (record["status"], record["result"], record["agency_reference"]) == ("completed", None, None)
        assert record["subject"] == {"nik_masked": "3201**********01"} and len(record["attempts"]) == 1
        assert record["finished_at"] is not None and record["counter"]["desk"] == "loket-01"
    status, replay, headers = await submit(client, "fake.thing.submit", **{"Idempotency-Key": "reg-1"})
    assert (status, headers["Idempotent-Replayed"], replay["id"]) == (200, "true", submission["id"])
    assert replay["status"] == "completed" and replay["result"] is None and replay["purged_at"] is not None
    [envelope_of_held] = await asyncio.to_thread(raw, gateway_settings, "SELECT envelope FROM requests WHERE id = ?",
                                                 held_id)  # fmt: skip
    assert envelope_of_held.startswith('"mppenc:v1:test:')
    fake_adapter.release.set()
    for _ in range(100):
        record = await (await client.get(f"/v1/requests/{held_id}", headers=AUTH)).json()
        if record["status"] == "completed":
            break
        await asyncio.sleep(0.02)
    assert record["status"] == "completed"  # released, it finishes as usual


async def test_a_tampered_record_answers_a_problem_without_personal_data(
    start: Callable[..., Awaitable[Client]], gateway_settings: Settings
) -> None:
    """A flipped byte in a stored result: the API answers problem+json, the log names the row and column."""
    client = await start()
    _, record, _ = await submit(client)
    [stored] = await asyncio.to_thread(raw, gateway_settings, "SELECT result FROM requests WHERE id = ?", record["id"])
    flipped = flip_ciphertext(stored)
    await asyncio.to_thread(raw, gateway_settings, "UPDATE requests SET result = ? WHERE id = ?", flipped, record["id"])
    logs = io.StringIO()
    configure_logging("info", logs)
    try:
        response = await client.get(f"/v1/requests/{record['id']}", headers=AUTH)
        text = await response.text()
    finally:
        structlog.reset_defaults()
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert response.status == 500 and problem["instance"] == f"/v1/requests/{record['id']}"
    assert problem["type"] == "/problems/stored-data-unreadable"
    assert "Traceback" not in text and NAME not in text and NIK not in text and "mppenc" not in text
    [failure] = [line for line in logs.getvalue().splitlines() if '"store.sealed_data_unreadable"' in line]
    assert f"requests.result of {record['id']} could not be opened" in failure and "Traceback" not in failure
    assert NAME not in failure and NIK not in failure
    other_status, other, _ = await submit(client)
    assert other_status == 200 and other["result"]["echoed"] == NAME  # the gateway carries on
