"""The processes of a benchmark run, all on 127.0.0.1: the mock agencies, the gateway, the reference servers
(bare proxy, OTLP sink) and nginx. Each logs to a file in the run's work folder and is stopped by its own id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx

from gateway.audit import new_keys
from gateway.store import generate_data_key

__all__ = ["Proc", "cpu_seconds", "free_port", "rss_kib", "start_gateway", "start_mocks", "start_nginx",
           "start_server"]  # fmt: skip

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process with its log file."""

    def __init__(self, name: str, popen: subprocess.Popen[Any], log: IO[Any]) -> None:
        self.name = name
        self.popen = popen
        self._log = log

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Still running."""
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 20 s."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def _spawn(name: str, command: list[str], workdir: Path, env: Mapping[str, str] | None = None) -> Proc:
    log = (workdir / f"{name}.log").open("ab")
    popen = subprocess.Popen(command, cwd=ROOT, env=dict(env or os.environ), stdout=log, stderr=log)  # noqa: S603
    return Proc(name, popen, log)


def _clean_env() -> dict[str, str]:
    """The environment without any ``MPP_*`` setting of the caller's: every run is configured here alone."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MPP_")}


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200 or the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see its log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:g} s")


def start_mocks(workdir: Path) -> tuple[Proc, Path, dict[str, str]]:
    """The mock agencies on free ports: the process, the gateway settings file, and each agency's origin."""
    settings = workdir / "agencies.env"
    env = {**_clean_env(), "MPP_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "gateway", "mocks", "--ephemeral-mock-ports", "--write-settings",
               str(settings)]  # fmt: skip
    proc = _spawn("mocks", command, workdir, env)
    deadline = time.monotonic() + 60
    while not settings.exists():
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError("the mocks did not start; see mocks.log")
        time.sleep(0.1)
    origins = {}
    for line in settings.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^MPP_AGENCY__([A-Z_]+)__BASE_URL=(https?://[^/]+)", line):
            origins[match.group(1).lower().replace("_", "-")] = match.group(2)
    for origin in origins.values():
        wait_http(origin + "/_control/health", proc)
    return proc, settings, origins


def write_clients(workdir: Path) -> str:
    """A clients file with one client, ``bench``; returns its API key."""
    key = "mppk_bench_" + secrets.token_urlsafe(24)
    digest = hashlib.sha256(key.encode()).hexdigest()
    clients = {"clients": [{"id": "bench", "name": "Benchmark", "key_sha256": [digest]}]}
    (workdir / "clients.json").write_text(json.dumps(clients), encoding="utf-8")
    return key


def start_gateway(workdir: Path, settings: Path, port: int, config: Mapping[str, str], *, name: str) -> Proc:
    """``mpp-gateway serve`` on ``port`` with a fresh store, configured by ``config`` (``MPP_*`` values)."""
    store = workdir / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    audit_keys = new_keys()
    env = {
        **_clean_env(),
        "MPP_AGENCY_SETTINGS_FILE": str(settings),
        "MPP_CLIENTS_FILE": str(workdir / "clients.json"),
        "MPP_STORE_PATH": str(store),
        "MPP_DATA_KEYS": generate_data_key(),
        # Every feature on: each request is audited with a subject, and checkpoints are signed.
        "MPP_AUDIT_KEY": audit_keys["audit_key"],
        "MPP_AUDIT_SIGNING_KEY": audit_keys["signing_key"],
        "MPP_PORT": str(port),
        "MPP_ADAPTERS": "dukcapil,bpjs-ketenagakerjaan",
        **config,
    }
    proc = _spawn(name, [sys.executable, "-m", "gateway", "serve"], workdir, env)
    wait_http(f"http://{HOST}:{port}/readyz", proc)
    return proc


def start_server(kind: str, port: int, workdir: Path, upstream: str | None = None) -> Proc:
    """One of :mod:`bench.servers` (``proxy`` or ``sink``)."""
    command = [sys.executable, "-m", "bench.servers", kind, "--port", str(port)]
    if upstream:
        command += ["--upstream", upstream]
    proc = _spawn(kind, command, workdir, _clean_env())
    probe = f"http://{HOST}:{port}/stats" if kind == "sink" else None
    if probe:
        wait_http(probe, proc)
    else:
        _wait_port(port, proc)
    return proc


def _wait_port(port: int, proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited; see its log")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen on {port}")


_NGINX_CONF = """
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    upstream agency {{
        server {upstream};
        keepalive 256;
    }}
    server {{
        listen {host}:{port} backlog=1024;
        location / {{
            proxy_pass http://agency;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def start_nginx(workdir: Path, port: int, upstream: str) -> Proc:
    """nginx as a reverse proxy to ``upstream`` (``host:port``), one worker, keep-alive to the upstream."""
    # Run as root (as in a container), the workers would otherwise drop to 'nobody' and lose the work folder.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(user=user, dir=workdir, upstream=upstream, host=HOST, port=port))
    # Debian puts nginx in /usr/sbin, which a non-root PATH often lacks.
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = _spawn("nginx", [nginx, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"], workdir, _clean_env())
    _wait_port(port, proc)
    return proc


def process_tree(pid: int) -> list[int]:
    """``pid`` and every living descendant (a gateway with workers is a supervisor and its children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return found


def rss_kib(pid: int) -> int:
    """Resident set size of a process and its descendants, KiB."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    if not total:
        raise RuntimeError("no VmRSS")
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process and its living descendants have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks
