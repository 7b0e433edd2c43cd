"""Three gateway processes on one PostgreSQL: a burst of submissions spread over them, one SIGKILLed midway.

Every request must end final, each registration must reach the agency once (the mock counts deliveries per
reference), and any replica must answer for any request: reads and idempotent retries alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.store import stored_data_keys
from tests.chaos.runner import SUBMISSION, free_port, register_payload
from tests.fakes import consent_given_at
from tests.postgres import PostgresServer

KEY = "mppk_replicas_" + "r" * 32
REPLICAS = 3
BURST = 45
FINAL = {"completed", "rejected", "failed"}


class Cluster:
    """The mocks process and the gateway replicas, each logging to a file in ``workdir``."""

    def __init__(self, workdir: Path, dsn: str) -> None:
        self.workdir = workdir
        self.dsn = dsn
        self.settings = workdir / "agencies.env"
        self.mocks: subprocess.Popen[bytes] | None = None
        self.gateways: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []

    def _run(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "gateway", *argv], env=env, stdout=log, stderr=log)

    def gateway_env(self, port: int) -> dict[str, str]:
        clients = self.workdir / "clients.json"
        digest = hashlib.sha256(KEY.encode()).hexdigest()
        clients.write_text(json.dumps({"clients": [{"id": "counter", "name": "Counter", "key_sha256": [digest]}]}))
        env = {key: value for key, value in os.environ.items() if not key.startswith("MPP_")}
        return {
            **env,
            "MPP_STORE_DSN": self.dsn,
            "MPP_DATA_KEYS": stored_data_keys(self.workdir / "data-keys"),  # one ring for every replica
            "MPP_AGENCY_SETTINGS_FILE": str(self.settings),
            "MPP_CLIENTS_FILE": str(clients),
            "MPP_HOST": "127.0.0.1",
            "MPP_PORT": str(port),
            "MPP_ADAPTERS": "bpjs-ketenagakerjaan",
            "MPP_LEASE_SECONDS": "2",
            "MPP_SWEEP_INTERVAL_SECONDS": "0.3",
            # Every replica's sweeper races the accepting replica for each new request: only the claim keeps order.
            "MPP_STORE_HANDOVER_SECONDS": "0",
            "MPP_SHUTDOWN_GRACE_SECONDS": "1",
            "MPP_LOG_LEVEL": "warning",
        }

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MPP_")}
        self.mocks = self._run(
            "mocks", ["mocks", "--ephemeral-mock-ports", "--write-settings", str(self.settings)], env
        )
        upgrade = subprocess.run(
            [sys.executable, "-m", "gateway", "db", "upgrade"], env={**env, "MPP_STORE_DSN": self.dsn},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert upgrade.returncode == 0, upgrade.stderr
        deadline = time.monotonic() + 30
        while not self.settings.exists():
            assert time.monotonic() < deadline, "the mocks did not write their settings"
            time.sleep(0.05)
        for i in range(REPLICAS):
            port = free_port()
            self.urls.append(f"http://127.0.0.1:{port}")
            self.gateways.append(self._run(f"gateway-{i}", ["serve"], self.gateway_env(port)))

    def agency_origin(self) -> str:
        text = self.settings.read_text(encoding="utf-8")
        match = re.search(r"^MPP_AGENCY__BPJS_KETENAGAKERJAAN__BASE_URL=(https?://[^/\s]+)", text, re.M)
        assert match is not None
        return match.group(1)

    def kill(self, index: int) -> None:
        self.gateways[index].send_signal(signal.SIGKILL)
        self.gateways[index].wait()

    def stop(self) -> None:
        procs = [*self.gateways, *([self.mocks] if self.mocks else [])]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(postgres: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    """Mocks and three replicas on a fresh, unmigrated database (the cluster runs ``db upgrade`` itself)."""
    dsn = postgres.create_database(template=None)
    running = Cluster(tmp_path, dsn)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        postgres.drop_database(dsn)


async def wait_ready(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def submit(clients: list[httpx.AsyncClient], first: int, body: dict[str, Any], key: str) -> httpx.Response:
    """A counter behind a load balancer: the same Idempotency-Key goes to the next replica when one is down."""
    for turn in range(2 * len(clients)):
        client = clients[(first + turn) % len(clients)]
        try:
            response = await client.post("/v1/requests", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            continue
        if response.status_code < 500:
            return response
    raise AssertionError("no replica accepted the request")


@pytest.mark.slow
async def test_replicas_share_the_queue_and_take_over_a_killed_ones_work(cluster: Cluster) -> None:
    """A burst over three replicas, one SIGKILLed midway: all final, each registration once, any replica answers."""
    headers = {"Authorization": f"Bearer {KEY}"}
    clients = [httpx.AsyncClient(base_url=url, headers=headers, timeout=10) for url in cluster.urls]
    origin = cluster.agency_origin()
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(base_url=origin, timeout=10) as agency:
        for client in clients:
            await stack.enter_async_context(client)
        await asyncio.gather(*(wait_ready(client) for client in clients))
        citizens = (await agency.get("/_control/citizens", params={"status": "active", "limit": BURST})).json()
        # Slow agency answers: the replica killed midway is sure to have registrations in flight.
        (await agency.put("/_control/faults", json={"latency_ms": 600})).raise_for_status()
        keys = [str(uuid.uuid4()) for _ in range(BURST)]
        bodies = [
            {"service": SUBMISSION, "applicant": {"nik": c["nik"]},
             "counter": {"mpp_id": "mpp-a", "desk": f"loket-{i % 9:02d}", "operator": "op-1"},
             "consent": {"method": "written", "reference": f"F-{i}", "given_at": consent_given_at()},
             "payload": register_payload(c)}
            for i, c in enumerate(citizens["citizens"])
        ]  # fmt: skip
        half = BURST * 2 // 3
        first = await asyncio.gather(*(submit(clients, i, bodies[i], keys[i]) for i in range(half)))
        await asyncio.sleep(0.2)
        cluster.kill(0)
        rest = await asyncio.gather(*(submit(clients, i, bodies[i], keys[i]) for i in range(half, BURST)))
        answers = [*first, *rest]
        assert all(a.status_code == 202 for a in answers), [a.text for a in answers if a.status_code != 202]
        ids = [a.json()["id"] for a in answers]
        assert len(set(ids)) == BURST

        live = clients[1:]
        records: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 40
        while len(records) < BURST and time.monotonic() < deadline:
            for i, request_id in enumerate(ids):
                if request_id not in records:
                    record = (await live[i % 2].get(f"/v1/requests/{request_id}")).json()
                    if record["status"] in FINAL:
                        records[request_id] = record
            await asyncio.sleep(0.3)
        statuses = {request_id: r["status"] for request_id, r in records.items()}
        assert len(records) == BURST, f"not final: {sorted(set(ids) - set(records))}"
        assert set(statuses.values()) <= {"completed", "rejected"}, statuses
        completed = {request_id for request_id, status in statuses.items() if status == "completed"}
        assert completed

        deliveries = (await agency.get("/_control/deliveries")).json()["by_reference"]
        registered = {r["reference"] for r in (await agency.get("/_control/registrations")).json()["registrations"]}
        assert registered == completed
        assert {ref: deliveries[ref] for ref in registered} == dict.fromkeys(registered, 1)

        # Any live replica answers for any request: a retried key replays the same request, a read sees it.
        for i, request_id in enumerate(ids):
            replay = await live[(i + 1) % 2].post("/v1/requests", json=bodies[i], headers={"Idempotency-Key": keys[i]})
            assert (replay.status_code, replay.json()["id"]) == (200, request_id)
            assert replay.headers["Idempotent-Replayed"] == "true"
            assert (await live[(i + 1) % 2].get(f"/v1/requests/{request_id}")).json()["status"] == statuses[request_id]

    conn = await asyncpg.connect(cluster.dsn)
    try:
        taken_over = await conn.fetchval("SELECT count(*) FROM requests WHERE needs_reconcile")
        stored = await conn.fetchval("SELECT count(*) FROM requests")
    finally:
        await conn.close()
    assert stored == BURST
    assert taken_over >= 1  # the killed replica's submissions were taken over (and reconciled) by the others
