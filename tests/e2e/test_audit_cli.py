"""`mpp-gateway audit`: a verification through the demo's HTTP API is audited, and `audit verify` checks the file."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import io
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

import httpx
import pytest

from gateway import PostgresStore
from gateway.cli import main
from gateway.store import AuditEvent
from tests.e2e.test_demo import free_port
from tests.postgres import PostgresServer

CLI = [sys.executable, "-m", "gateway"]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the mpp-gateway command as an operator would."""
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def audited_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo run with audit keys from `audit keygen`: one verification request, then a clean shutdown."""
    folder = tmp_path_factory.mktemp("audit")
    keys = json.loads(cli("audit", "keygen", env=dict(os.environ)).stdout)
    env = {**os.environ, "MPP_STORE_PATH": str(folder / "demo.sqlite3"), "MPP_AUDIT_KEY": keys["audit_key"],
           "MPP_AUDIT_SIGNING_KEY": keys["signing_key"], "MPP_AUDIT_CHECKPOINT_SECONDS": "3600"}  # fmt: skip
    port = free_port()
    log = folder / "demo.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([*CLI, "demo", "--port", str(port), "--ephemeral-mock-ports"],
                                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    key = mock_url = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (key and mock_url) and (line := proc.stdout.readline()):
        key = key or ((m := re.search(r"Demo client API key: (\S+)", line)) and m.group(1))
        mock_url = mock_url or ((m := re.search(r"Mock dukcapil: (http://\S+)", line)) and m.group(1))
    try:
        assert key and mock_url, log.read_text()
        citizen = httpx.get(f"{mock_url}/_control/citizens", params={"status": "active", "limit": 1}).json()
        nik = citizen["citizens"][0]["nik"]
        body = {
            "service": "dukcapil.nik.verify",
            "applicant": {"nik": nik},
            "counter": {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"},
            "payload": {"full_name": citizen["citizens"][0]["full_name"], "birth_date": "1900-01-01"},
        }
        headers = {"Authorization": f"Bearer {key}", "Prefer": "wait=10"}
        record = httpx.post(f"http://127.0.0.1:{port}/v1/requests", json=body, headers=headers, timeout=20).json()
        assert record["status"] == "completed", record
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return {"env": env, "keys": keys, "nik": nik, "record": record, "path": folder / "demo.sqlite3", "log": log}


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_verification_is_audited_with_its_counter_and_subject(audited_demo: dict[str, Any]) -> None:
    """The demo's request left request.accepted and request.completed, by its counter, about the NIK's keyed hash."""
    subject = hmac.new(audited_demo["keys"]["audit_key"].encode(), audited_demo["nik"].encode(), hashlib.sha256)
    expected = ("demo-counter", "mpp-demo", "loket-01", "op-001", "dukcapil.nik.verify", audited_demo["record"]["id"],
                subject.hexdigest(), "ok")  # fmt: skip
    entries = rows(audited_demo["path"], "SELECT seq, action, client_id, mpp_id, desk, operator, service, request_id, "
                                         "subject, outcome FROM audit_log ORDER BY seq")  # fmt: skip
    assert entries == [(1, "request.accepted", *expected), (2, "request.completed", *expected)]
    assert rows(audited_demo["path"], "SELECT seq FROM audit_checkpoints") == [(2,)]  # signed at shutdown
    assert audited_demo["nik"] not in repr(rows(audited_demo["path"], "SELECT * FROM audit_log"))
    assert audited_demo["nik"] not in audited_demo["log"].read_text()


def in_process(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *args: str, stdin: str = "") -> int:
    """Run mpp-gateway in this process (faster than a subprocess) with exactly the given MPP_* environment."""
    for name in [n for n in os.environ if n.startswith("MPP_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("MPP_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(list(args))


def test_verify_passes_on_the_demos_file(
    audited_demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit verify` exits 0 on the untouched file, with a base64 key (JSON line) or a PEM key file (text)."""
    env = {k: v for k, v in audited_demo["env"].items() if k != "MPP_AUDIT_SIGNING_KEY"}
    done = cli("audit", "verify", "--json", "--public-key-b64", audited_demo["keys"]["public_key"], env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["intact"], report["entries_checked"], report["last_seq"]) == (True, 2, 2)
    assert (report["checkpoints_verified"], report["warnings"], report["problem"]) == (1, [], None)
    pem = tmp_path / "audit.pub"
    pem.write_text(audited_demo["keys"]["public_key_pem"])
    assert in_process(monkeypatch, env, "audit", "verify", "--public-key", str(pem)) == 0
    assert capsys.readouterr().out == "audit log intact: 2 entries checked, last seq 2, 1 checkpoints verified\n"


def test_verify_reports_an_edit_and_exits_1(
    audited_demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An edited entry in a copy of the file: exit 1, the entry's seq and the kind in the JSON line."""
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(audited_demo["path"].read_bytes())
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute("UPDATE audit_log SET client_id = 'someone-else' WHERE seq = 1")
    conn.close()
    env = {**audited_demo["env"], "MPP_STORE_PATH": str(copy)}
    # No public key given: the public half of MPP_AUDIT_SIGNING_KEY checks the checkpoints, and the report says so.
    assert in_process(monkeypatch, env, "audit", "verify", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["intact"], report["problem"]["seq"], report["problem"]["kind"]) == (False, 1, "edited")
    assert "MPP_AUDIT_SIGNING_KEY" in report["warnings"][0]


def test_subject_hashes_nik_read_from_stdin(
    audited_demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit subject` answers "who looked at this citizen": the subject of a NIK given on stdin, as stored."""
    code = in_process(monkeypatch, audited_demo["env"], "audit", "subject", stdin=audited_demo["nik"] + "\n")
    stored = rows(audited_demo["path"], "SELECT DISTINCT subject FROM audit_log")
    assert (code, [(capsys.readouterr().out.strip(),)]) == (0, stored)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--public-key-b64", "bm90LWEta2V5"], {}, "32 bytes in base64"),
        (["--public-key", "/nonexistent/audit.pub"], {}, "No such file"),
        ([], {"MPP_STORE_PATH": "/nonexistent/gateway.sqlite3"}, "no such file"),
        (["--page-size", "0"], {}, "--page-size"),
        ([], {"MPP_AUDIT_SIGNING_KEY": "garbage"}, "MPP_AUDIT_SIGNING_KEY"),
        ([], {"MPP_STORE_DSN": "postgresql://mpp:s3cret@127.0.0.1:9/mpp"}, "127.0.0.1:9"),
    ],
    ids=["bad-public-key", "missing-key-file", "missing-store", "bad-page-size", "bad-signing-key", "no-database"],
)
def test_usage_and_configuration_errors_exit_2(
    audited_demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: list[str], env: dict[str, str], message: str,
) -> None:  # fmt: skip
    """A bad key, a missing file, store or database: exit 2 with a message naming it, and no secret in it."""
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.delenv("MPP_AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(audited_demo["path"]))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["audit", "verify", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "s3cret" not in err and "garbage" not in err


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse's own usage errors exit 2 as well."""
    with pytest.raises(SystemExit) as caught:
        main(["audit", "verify", "--no-such-option"])
    assert caught.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


async def test_verify_reads_postgresql_from_the_dsn(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With MPP_STORE_DSN set, verify walks the PostgreSQL chain and warns that it has no checkpoints."""
    dsn = postgres.create_database()
    try:
        store = PostgresStore(dsn, pool_size=2)
        await store.open()
        await store.append_audit([AuditEvent("request.accepted", dt.datetime.now(dt.UTC), "c") for _ in range(5)])
        await store.aclose()
        monkeypatch.setenv("MPP_STORE_DSN", dsn)
        monkeypatch.delenv("MPP_AUDIT_SIGNING_KEY", raising=False)
        code = await asyncio.to_thread(main, ["audit", "verify", "--json"])
    finally:
        postgres.drop_database(dsn)
    report = json.loads(capsys.readouterr().out)
    assert (code, report["entries_checked"], report["intact"]) == (0, 5, True)
    assert "no signed checkpoints" in report["warnings"][0]
