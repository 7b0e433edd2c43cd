"""``mpp-gateway serve --workers 2`` on the embedded SQLite store: two processes on one port under a supervisor.

Real processes and sockets: the mocks, the supervisor and its workers. Lookups and submissions spread over both
workers must all end final with one audit chain, the metrics must add up over the workers, a killed worker must
be replaced, and SIGTERM must stop everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from bench._bodies import lookup_body, register_body
from gateway.audit import new_keys
from gateway.store import generate_data_key
from gateway.telemetry import FLUSH_SECONDS
from tests.chaos.runner import free_port

KEY = "mppk_workers_" + "w" * 32
FINAL = {"completed", "rejected", "failed"}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _posts_served(pid: int) -> float:
    """The ``POST`` API calls one worker answered, from its own metric files only."""
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
    )
    with tempfile.TemporaryDirectory() as alone:
        for path in Path(environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"*_{pid}.db"):
            shutil.copy(path, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=alone)  # type: ignore[no-untyped-call]
        return sum(
            sample.value
            for metric in registry.collect()
            if metric.name == "mpp_http_requests"
            for sample in metric.samples
            if sample.name == "mpp_http_requests_total" and sample.labels.get("method") == "POST"
        )


class Workers:
    """The mocks and one supervised gateway with two workers, logging into ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.settings = workdir / "agencies.env"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = workdir / "gateway.sqlite3"
        self.keys = new_keys()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gateway: subprocess.Popen[bytes] | None = None

    def _run(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "gateway", *argv], env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def env(self, **extra: str) -> dict[str, str]:
        clients = self.workdir / "clients.json"
        digest = hashlib.sha256(KEY.encode()).hexdigest()
        clients.write_text(json.dumps({"clients": [{"id": "counter", "name": "Counter", "key_sha256": [digest]}]}))
        base = {key: value for key, value in os.environ.items() if not key.startswith("MPP_")}
        return {
            **base,
            "MPP_STORE_PATH": str(self.store),
            "MPP_DATA_KEYS": generate_data_key(),
            "MPP_AUDIT_KEY": self.keys["audit_key"],
            "MPP_AUDIT_SIGNING_KEY": self.keys["signing_key"],
            "MPP_AGENCY_SETTINGS_FILE": str(self.settings),
            "MPP_CLIENTS_FILE": str(clients),
            "MPP_HOST": "127.0.0.1",
            "MPP_PORT": str(self.port),
            "MPP_ADAPTERS": "dukcapil,bpjs-ketenagakerjaan",
            "MPP_WORKERS": "2",
            "MPP_SQLITE_SYNCHRONOUS": "FULL",
            "MPP_SWEEP_INTERVAL_SECONDS": "0.3",
            "MPP_SHUTDOWN_GRACE_SECONDS": "1",
            "MPP_LOG_LEVEL": "warning",
            **extra,
        }

    def start_mocks(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MPP_")}
        self._run("mocks", ["mocks", "--ephemeral-mock-ports", "--write-settings", str(self.settings)], env)
        deadline = time.monotonic() + 30
        while not self.settings.exists():
            assert time.monotonic() < deadline, "the mocks did not write their settings"
            time.sleep(0.05)

    def start_gateway(self, **extra: str) -> subprocess.Popen[bytes]:
        self.gateway = self._run("gateway", ["serve"], self.env(**extra))
        return self.gateway

    def origin(self, agency: str) -> str:
        name = agency.upper().replace("-", "_")
        for line in self.settings.read_text(encoding="utf-8").splitlines():
            if line.startswith(f"MPP_AGENCY__{name}__BASE_URL="):
                return line.split("=", 1)[1].rstrip("/")
        raise AssertionError(f"no base URL for {agency}")

    def workers(self) -> list[int]:
        assert self.gateway is not None
        return _children(self.gateway.pid)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """The mocks running; the gateway is started by the test."""
    running = Workers(tmp_path)
    try:
        running.start_mocks()
        yield running
    finally:
        running.stop()


async def _ready(url: str, pids: int = 2, supervisor: Workers | None = None) -> None:
    async with asyncio.timeout(60), httpx.AsyncClient(base_url=url, timeout=5) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200 and (
                    supervisor is None or len(supervisor.workers()) == pids
                ):
                    return
            await asyncio.sleep(0.1)


async def _citizens(workers: Workers, n: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=workers.origin("dukcapil"), timeout=10) as agency:
        answer = await agency.get("/_control/citizens", params={"status": "active", "limit": n})
        return list(answer.json()["citizens"])


@pytest.mark.slow
async def test_two_workers_share_the_port_the_store_and_one_audit_chain(workers: Workers) -> None:
    """Lookups and submissions over 30 connections: both workers serve, all end final, one valid chain."""
    gateway = workers.start_gateway()
    await _ready(workers.url, supervisor=workers)
    pids = workers.workers()
    citizens = await _citizens(workers, 60)
    headers = {"Authorization": f"Bearer {KEY}"}

    async def one_connection(offset: int) -> list[httpx.Response]:
        # A client of its own per counter: its own connection, which the kernel hands to one of the workers.
        async with httpx.AsyncClient(base_url=workers.url, headers=headers, timeout=20) as client:
            out = []
            for i in range(offset, len(citizens), 30):
                lookup = await client.post("/v1/requests", json=lookup_body(i, citizens[i]),
                                           headers={"Prefer": "wait=10"})  # fmt: skip
                submit = await client.post("/v1/requests", json=register_body(i, citizens[i]),
                                           headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
                out += [lookup, submit]
            return out

    answers = [a for batch in await asyncio.gather(*(one_connection(k) for k in range(30))) for a in batch]
    assert len(answers) == 120
    assert all(a.status_code in {200, 202} for a in answers), [a.text for a in answers if a.status_code >= 300]
    lookups = [a.json() for a in answers if a.json()["service"] == "dukcapil.nik.verify"]
    assert len(lookups) == 60 and all(r["status"] == "completed" for r in lookups)
    ids = [a.json()["id"] for a in answers]

    async with httpx.AsyncClient(base_url=workers.url, headers=headers, timeout=10) as client:
        deadline = time.monotonic() + 60
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for request_id in list(pending):
                if (await client.get(f"/v1/requests/{request_id}")).json()["status"] in FINAL:
                    pending.discard(request_id)
            await asyncio.sleep(0.3)
        assert not pending, f"not final: {sorted(pending)}"
        # Any worker answers /metrics with the sum over both: the counts agree whichever one is asked, once each
        # worker's flush (every second) has written its last counts into its file (the POSTs' counts below too).
        await asyncio.sleep(2 * FLUSH_SECONDS)
        totals = set()
        for _ in range(6):
            async with httpx.AsyncClient(base_url=workers.url, timeout=10) as fresh:  # a new connection each
                text = (await fresh.get("/metrics")).text
            totals.add(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("mpp_requests_total{")))  # fmt: skip
        assert totals == {120.0}

    # Both workers did a share: 30 connections, each handed by the kernel to one of them, 4 POSTs each.
    served = {pid: _posts_served(pid) for pid in pids}
    assert sum(served.values()) == 120
    assert all(n >= 12 for n in served.values()), served

    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(timeout=30) == 0
    assert not any(_alive(pid) for pid in pids)
    verify = await asyncio.to_thread(_verify, workers)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    # Accepted and final for each of the 120, plus a read for each GET of a finished request, in one chain.
    assert report["entries_checked"] >= 240


def _verify(workers: Workers) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--json", "--public-key-b64",
         workers.keys["public_key"]],
        env=workers.env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
async def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(workers: Workers) -> None:
    """SIGKILL one worker: the supervisor starts another, requests keep completing, SIGTERM stops all."""
    gateway = workers.start_gateway()
    await _ready(workers.url, supervisor=workers)
    first = workers.workers()
    os.kill(first[0], signal.SIGKILL)
    citizens = await _citizens(workers, 20)
    headers = {"Authorization": f"Bearer {KEY}", "Prefer": "wait=10"}
    completed = 0
    for i, citizen in enumerate(citizens):
        async with httpx.AsyncClient(base_url=workers.url, headers=headers, timeout=20) as client:
            answer = await client.post("/v1/requests", json=lookup_body(i, citizen))
        assert answer.status_code == 200, answer.text
        completed += answer.json()["status"] == "completed"
    assert completed == len(citizens)
    async with asyncio.timeout(30):
        while True:
            now = workers.workers()
            if len(now) == 2 and first[0] not in now:
                break
            await asyncio.sleep(0.1)
    assert first[1] in now
    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(timeout=30) == 0
    assert not any(_alive(pid) for pid in now)


def test_a_worker_that_cannot_start_stops_the_supervisor_with_code_2(workers: Workers) -> None:
    """No data key: each worker refuses to start and says why; the supervisor exits 2 instead of looping."""
    env = workers.env()
    del env["MPP_DATA_KEYS"]
    proc = subprocess.run([sys.executable, "-m", "gateway", "serve"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2
    assert "MPP_DATA_KEYS" in proc.stderr
    assert "Traceback" not in proc.stderr
