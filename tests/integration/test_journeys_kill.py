"""A gateway process SIGKILLed while journeys run (the agencies slow, so steps are in flight): started again on the
same SQLite file, or with another replica on the same PostgreSQL database taking over, every journey ends, none is
lost, and no step was stored as a request twice."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.store import stored_data_keys
from tests.chaos.runner import free_port
from tests.fakes import consent_given_at
from tests.postgres import PostgresServer

KEY = "mppk_journeys_kill_" + "k" * 32
JOURNEYS = 16


class Gateway:
    """The mocks and gateway processes (one on a SQLite file, or ``replicas`` on the PostgreSQL ``dsn``), logging
    into ``workdir``."""

    def __init__(self, workdir: Path, *, dsn: str | None = None, replicas: int = 1) -> None:
        self.workdir = workdir
        self.settings = workdir / "agencies.env"
        self.store = workdir / "gateway.sqlite3"
        self.dsn = dsn
        self.ports = [free_port() for _ in range(replicas)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.url = self.urls[0]
        self.mocks: subprocess.Popen[bytes] | None = None
        self.gateways: list[subprocess.Popen[bytes] | None] = [None] * replicas

    def _run(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "gateway", *argv], env=env, stdout=log, stderr=log)

    def _env(self, index: int) -> dict[str, str]:
        clients = self.workdir / "clients.json"
        digest = hashlib.sha256(KEY.encode()).hexdigest()
        clients.write_text(json.dumps({"clients": [{"id": "counter", "name": "Counter", "key_sha256": [digest],
                                                    "mpp_id": "mpp-a"}]}))  # fmt: skip
        env = {key: value for key, value in os.environ.items() if not key.startswith("MPP_")}
        store = {"MPP_STORE_DSN": self.dsn} if self.dsn else {"MPP_STORE_PATH": str(self.store)}
        return {
            **env,
            **store,
            "MPP_DATA_KEYS": stored_data_keys(self.workdir / "data-keys"),
            "MPP_AGENCY_SETTINGS_FILE": str(self.settings),
            "MPP_CLIENTS_FILE": str(clients),
            "MPP_HOST": "127.0.0.1",
            "MPP_PORT": str(self.ports[index]),
            "MPP_LEASE_SECONDS": "2",
            "MPP_SWEEP_INTERVAL_SECONDS": "0.3",
            "MPP_STORE_HANDOVER_SECONDS": "0.3",
            "MPP_SHUTDOWN_GRACE_SECONDS": "1",
            "MPP_LOG_LEVEL": "warning",
        }

    def start_mocks(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MPP_")}
        self.mocks = self._run("mocks", ["mocks", "--ephemeral-mock-ports", "--write-settings", str(self.settings)],
                               env)  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.settings.exists():
            assert time.monotonic() < deadline, "the mocks did not write their settings"
            time.sleep(0.05)

    def start(self, index: int = 0) -> None:
        self.gateways[index] = self._run(f"gateway-{index}", ["serve"], self._env(index))

    def kill(self, index: int = 0) -> None:
        gateway = self.gateways[index]
        assert gateway is not None
        gateway.send_signal(signal.SIGKILL)
        gateway.wait()

    def origin(self, agency: str) -> str:
        name = agency.upper().replace("-", "_")
        match = re.search(rf"^MPP_AGENCY__{name}__BASE_URL=(https?://[^/\s]+)", self.settings.read_text(), re.M)
        assert match is not None
        return match.group(1)

    def stop(self) -> None:
        procs = [p for p in (*self.gateways, self.mocks) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def ready(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        found = [tuple(r) for r in conn.execute(sql).fetchall()]
    conn.close()
    return found


async def start_journeys(gateway: Gateway, api: httpx.AsyncClient) -> list[str]:
    """Slow the agencies, then start a membership check for each of :data:`JOURNEYS` citizens."""
    await ready(api)
    async with httpx.AsyncClient(base_url=gateway.origin("dukcapil"), timeout=10) as dukcapil:
        citizens = (await dukcapil.get("/_control/citizens", params={"status": "active",
                                                                   "limit": JOURNEYS})).json()["citizens"]
    for agency in ("dukcapil", "bpjs-kesehatan", "bpjs-ketenagakerjaan"):
        async with httpx.AsyncClient(base_url=gateway.origin(agency), timeout=10) as mock:
            (await mock.put("/_control/faults", json={"latency_ms": 400})).raise_for_status()
    started = []
    for n, citizen in enumerate(citizens):
        body = {
            "journey": "counter.membership-check", "applicant": {"nik": citizen["nik"]},
            "counter": {"mpp_id": "mpp-a", "desk": f"loket-{n % 9:02d}", "operator": "op-1"},
            "consent": {"method": "written", "reference": f"F-{n}", "given_at": consent_given_at()},
            "payload": {"service_date": "2026-11-22"},
        }  # fmt: skip
        answer = await api.post("/v1/journeys", json=body, headers={"Idempotency-Key": f"visit-{n}"})
        assert answer.status_code in (200, 202), answer.text
        started.append(answer.json()["id"])
    await asyncio.sleep(0.2)
    return started


async def final_statuses(api: httpx.AsyncClient, started: list[str]) -> dict[str, str]:
    """Each journey's status once it is no longer running (a minute at most)."""
    deadline = time.monotonic() + 60
    final: dict[str, str] = {}
    while len(final) < len(started) and time.monotonic() < deadline:
        for journey_id in started:
            if journey_id not in final:
                record = (await api.get(f"/v1/journeys/{journey_id}")).json()
                if record["status"] != "running":
                    final[journey_id] = record["status"]
        await asyncio.sleep(0.3)
    return final


#: Per step: its run, and the requests stored under its keys (one per run).
STEP_KEYS = (
    "SELECT s.journey_id, s.name, s.run, (SELECT count(*) FROM idempotency_keys k "
    "WHERE k.key LIKE 'journey ' || s.journey_id || ' ' || s.name || ' %') FROM journey_steps s"
)


@pytest.mark.slow
async def test_a_killed_gateway_loses_no_journey_and_stores_no_step_twice(tmp_path: Path) -> None:
    """Journeys started, the process SIGKILLed with steps in flight, started again: all journeys final, each
    step-run stored as exactly one request (its key found the first after the restart)."""
    gateway = Gateway(tmp_path)
    try:
        gateway.start_mocks()
        gateway.start()
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=10) as api:
            started = await start_journeys(gateway, api)
            gateway.kill()
            running = rows(gateway.store, "SELECT count(*) FROM journeys WHERE status = 'running'")[0][0]
            assert running > 0, "the kill came after every journey ended: nothing was tested"
            gateway.start()
            await ready(api)
            final = await final_statuses(api, started)
        assert len(final) == len(started), f"not final after the restart: {sorted(set(started) - set(final))}"
        assert set(final.values()) <= {"completed", "failed"}
        stored = rows(gateway.store, "SELECT id FROM journeys")
        assert sorted(i for (i,) in stored) == sorted(started)  # none lost, none extra
        per_step = rows(gateway.store, STEP_KEYS)
        assert all(count == run for _, _, run, count in per_step), per_step
        step_requests = rows(gateway.store, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'journey %'")[0][0]
        assert rows(gateway.store, "SELECT count(*) FROM requests")[0][0] == step_requests
    finally:
        gateway.stop()


@pytest.mark.slow
async def test_a_replica_takes_over_the_journeys_of_a_killed_one(postgres: PostgresServer, tmp_path: Path) -> None:
    """Two replicas on one PostgreSQL database; the one that started the journeys is SIGKILLed with steps in
    flight: the other ends every journey, and every step-run is one request."""
    dsn = postgres.create_database()
    gateway = Gateway(tmp_path, dsn=dsn, replicas=2)
    try:
        gateway.start_mocks()
        gateway.start(0)
        gateway.start(1)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with (
            httpx.AsyncClient(base_url=gateway.urls[0], headers=headers, timeout=10) as first,
            httpx.AsyncClient(base_url=gateway.urls[1], headers=headers, timeout=10) as second,
        ):
            await ready(second)
            started = await start_journeys(gateway, first)
            gateway.kill(0)
            conn = await asyncpg.connect(dsn)
            try:
                running = await conn.fetchval("SELECT count(*) FROM journeys WHERE status = 'running'")
            finally:
                await conn.close()
            assert running > 0, "the kill came after every journey ended: nothing was tested"
            final = await final_statuses(second, started)
        assert len(final) == len(started), f"not final after the kill: {sorted(set(started) - set(final))}"
        assert set(final.values()) <= {"completed", "failed"}
        conn = await asyncpg.connect(dsn)
        try:
            stored = {r["id"] for r in await conn.fetch("SELECT id FROM journeys")}
            per_step = [tuple(r) for r in await conn.fetch(STEP_KEYS)]
            keys = await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE key LIKE 'journey %'")
            requests = await conn.fetchval("SELECT count(*) FROM requests")
        finally:
            await conn.close()
        assert stored == set(started)
        assert all(count == run for _, _, run, count in per_step), per_step
        assert requests == keys
    finally:
        gateway.stop()
        postgres.drop_database(dsn)
