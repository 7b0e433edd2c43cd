"""`mpp-gateway demo` (what `make run` starts) for an operations engineer: the ops console key in the banner, the
request search through the HTTP API, and `mpp-gateway requests` / `status` on the demo's database."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.test_demo import free_port

CLI = [sys.executable, "-m", "gateway"]
BANNER = {
    "key": re.compile(r"Demo client API key: (\S+)"),
    "ops_key": re.compile(r"Ops console key: (\S+)"),
    "console": re.compile(r"Ops console: (http://\S+)"),
    "mock": re.compile(r"Mock dukcapil: (http://\S+)"),
}


def test_an_ops_engineer_finds_a_request_masked_in_the_api_and_the_terminal(tmp_path: Path) -> None:
    """The banner names the ops key and console; with that key the search finds the demo's request masked, and
    the terminal commands read the same database; the citizen's NIK and name appear nowhere."""
    port = free_port()
    env = {**os.environ, "MPP_STORE_PATH": str(tmp_path / "demo.sqlite3")}
    env.pop("MPP_DEMO_OPS_KEY", None)
    log = tmp_path / "demo.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([*CLI, "demo", "--port", str(port), "--ephemeral-mock-ports"],
                                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    found: dict[str, str] = {}
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(found) < len(BANNER) and (line := proc.stdout.readline()):
            found.update({name: m.group(1) for name, pattern in BANNER.items() if (m := pattern.search(line))})
        assert len(found) == len(BANNER), log.read_text()
        base = f"http://127.0.0.1:{port}"
        assert found["console"] == f"{base}/console"
        assert (tmp_path / "demo.sqlite3.demo-ops-key").read_text().strip() == found["ops_key"]

        citizen = httpx.get(f"{found['mock']}/_control/citizens", params={"status": "active", "limit": 1}).json()
        person = citizen["citizens"][0]
        body = {
            "service": "dukcapil.nik.verify",
            "applicant": {"nik": person["nik"]},
            "counter": {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"},
            "payload": {"full_name": person["full_name"], "birth_date": person["birth_date"]},
        }
        counter = {"Authorization": f"Bearer {found['key']}", "Prefer": "wait=10"}
        record = httpx.post(f"{base}/v1/requests", json=body, headers=counter, timeout=20).json()
        assert record["status"] == "completed", record

        ops = {"Authorization": f"Bearer {found['ops_key']}"}
        search = httpx.get(f"{base}/v1/requests", params={"status": "completed", "since": "1h"}, headers=ops)
        one = httpx.get(f"{base}/v1/requests/{record['id']}", headers=ops)
        assert search.status_code == one.status_code == 200
        assert [r["id"] for r in search.json()["requests"]] == [record["id"]]
        assert one.json()["result"] is None and one.json()["subject"]["nik_masked"] == record["subject"]["nik_masked"]
        assert httpx.get(found["console"]).status_code == 200
        # The ops key is no counter key: it is granted no service.
        assert httpx.post(f"{base}/v1/requests", json=body, headers=ops).status_code == 403

        # The terminal commands read the running demo's database.
        table = subprocess.run([*CLI, "requests", "--since", "1h"], env=env, capture_output=True, text=True,
                               timeout=60, check=True).stdout  # fmt: skip
        assert record["id"] in table and "dukcapil.nik.verify" in table and record["subject"]["nik_masked"] in table
        status = json.loads(subprocess.run([*CLI, "status", "--json"], env=env, capture_output=True, text=True,
                                           timeout=60, check=True).stdout)  # fmt: skip
        assert status["requests_last_hour"]["completed"] == 1

        personal = [v for k in ("nik", "full_name", "birth_date", "address") if isinstance(v := person.get(k), str)]
        assert len(personal) >= 3
        for text, value in itertools.product((search.text, one.text, table, json.dumps(status)), personal):
            assert value not in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert person["nik"] not in log.read_text()
