"""Callbacks in `mpp-gateway demo` (what `make run` starts): delivered to the receiver the demo lists, never to
the mock agencies beside it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver(HTTPServer):
    """A counter app's webhook receiver on loopback, recording each POST body."""

    received: list[dict[str, Any]]


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert isinstance(self.server, Receiver)
        self.server.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The receiver on a free loopback port."""
    server = Receiver(("127.0.0.1", free_port()), Hook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def demo(tmp_path: Path, receiver: Receiver) -> Iterator[tuple[str, str, str, subprocess.Popen[str], Path]]:
    """The demo with the receiver's origin as its clients' callback origin: its URL, key, dukcapil mock URL."""
    port = free_port()
    origin = f"http://127.0.0.1:{receiver.server_address[1]}"
    env = {**os.environ, "MPP_STORE_PATH": str(tmp_path / "demo.sqlite3"), "MPP_DEMO_CALLBACK_ORIGINS": origin}
    log = tmp_path / "demo.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--ephemeral-mock-ports"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    assert proc.stdout is not None
    key = mock_url = None
    banner = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (key and mock_url):
        line = proc.stdout.readline()
        if not line:
            break
        banner.append(line)
        if m := re.search(r"Demo client API key: (\S+)", line):
            key = m.group(1)
        if m := re.search(r"Mock dukcapil: (http://\S+)", line):
            mock_url = m.group(1)
    try:
        if not (key and mock_url):
            pytest.fail(f"demo did not start: {log.read_text()}")
        assert any(f"Callbacks (callback_url) go to {origin} only" in line for line in banner)
        yield f"http://127.0.0.1:{port}", key, mock_url, proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def test_the_demo_delivers_to_its_receiver_and_refuses_the_mocks(
    demo: tuple[str, str, str, subprocess.Popen[str], Path], receiver: Receiver
) -> None:
    """A callback to the listed loopback receiver (plain http, allowed in the demo) arrives; one to a mock
    agency's control route is a 422 naming callback_url, and the mock is left as it was."""
    url, key, mock_url, proc, log = demo
    citizen = httpx.get(f"{mock_url}/_control/citizens", params={"status": "active", "limit": 1}).json()["citizens"][0]
    body = {
        "service": "dukcapil.nik.verify",
        "applicant": {"nik": citizen["nik"]},
        "counter": {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"},
        "payload": {"full_name": citizen["full_name"], "birth_date": "1900-01-01"},
    }
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}", "Prefer": "wait=10"},
                      timeout=20) as client:  # fmt: skip
        faults = {"error_rate": 0.5}
        assert httpx.put(f"{mock_url}/_control/faults", json=faults).status_code in (200, 204)
        refused = client.post("/v1/requests", json={**body, "callback_url": f"{mock_url}/_control/reset"})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "callback_url"
        assert httpx.get(f"{mock_url}/_control/faults").json()["error_rate"] == 0.5  # not reset
        assert httpx.put(f"{mock_url}/_control/faults", json={"error_rate": 0}).status_code in (200, 204)

        origin = f"http://127.0.0.1:{receiver.server_address[1]}"
        record = client.post("/v1/requests", json={**body, "callback_url": f"{origin}/hook"}).json()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.1)
        assert [event["request_id"] for event in receiver.received] == [record["id"]]

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 0
    assert "Traceback" not in log.read_text()
