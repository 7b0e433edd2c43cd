"""`mpp-gateway demo` (what `make run` starts), driven through its HTTP API as a counter app would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Demo:
    def __init__(
        self, proc: subprocess.Popen[str], port: int, key: str, mpp_key: str, mock_url: str, log: Path
    ) -> None:
        self.proc = proc
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.key = key
        self.mpp_key = mpp_key
        self.mock_url = mock_url


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """The demo process on a free port, mocks on free ports, its store in a temporary folder."""
    port = free_port()
    env = {**os.environ, "MPP_STORE_PATH": str(tmp_path / "demo.sqlite3")}
    log = tmp_path / "demo.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--ephemeral-mock-ports"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    key = mpp_key = mock_url = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (key and mpp_key and mock_url):
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"Demo client API key: (\S+)", line):
            key = m.group(1)
        if m := re.search(r"Demo client of mpp-demo only: (\S+)", line):
            mpp_key = m.group(1)
        if m := re.search(r"Mock dukcapil: (http://\S+)", line):
            mock_url = m.group(1)
    if not (key and mpp_key and mock_url):
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pytest.fail(f"demo did not start: {log.read_text()}")
    yield Demo(proc, port, key, mpp_key, mock_url, log)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stdout.close()


def test_counter_verifies_a_citizen_and_bad_input_gets_problems(demo: Demo) -> None:
    """Through the demo: a verification completes with per-field scores, bad input gets problems naming fields."""
    citizen = httpx.get(f"{demo.mock_url}/_control/citizens", params={"status": "active", "limit": 1}).json()[
        "citizens"
    ][0]
    headers = {"Authorization": f"Bearer {demo.key}", "Prefer": "wait=10"}
    body = {
        "service": "dukcapil.nik.verify",
        "applicant": {"nik": citizen["nik"]},
        "counter": {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"},
        "payload": {"full_name": citizen["full_name"], "birth_date": "1900-01-01"},
    }
    with httpx.Client(base_url=demo.url, headers=headers, timeout=20) as client:
        services = client.get("/v1/services").json()["services"]
        assert "dukcapil.nik.verify" in [s["id"] for s in services]
        resp = client.post("/v1/requests", json=body)
        assert resp.status_code == 200
        record = resp.json()
        assert record["status"] == "completed"
        assert record["result"]["fields"]["full_name"]["match"] is True
        assert record["result"]["fields"]["birth_date"]["match"] is False
        again = client.get(resp.headers["Location"]).json()
        assert again["id"] == record["id"] and again["status"] == "completed"

        bad = {**body, "applicant": {"nik": "9901014708900001"}}
        problem = client.post("/v1/requests", json=bad)
        assert problem.status_code == 422
        assert problem.headers["content-type"] == "application/problem+json"
        assert problem.json()["errors"][0]["field"] == "applicant.nik"
        assert client.get("/readyz").status_code == 200
        assert client.get("/docs").status_code == 200

        # The demo's second client is bound to mpp-demo: it may act there, and is refused for another MPP.
        desk = {"Authorization": f"Bearer {demo.mpp_key}", "Prefer": "wait=10"}
        assert client.post("/v1/requests", json=body, headers=desk).status_code == 200
        elsewhere = {**body, "counter": {**body["counter"], "mpp_id": "mpp-lain"}}
        refused = client.post("/v1/requests", json=elsewhere, headers=desk)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["field"] == "counter.mpp_id"

    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=20) == 0
    log = demo.log.read_text()
    assert '"http.request"' in log and record["id"] in log  # a call's one line at info names its request
    assert "Traceback" not in log
    assert citizen["nik"] not in log
