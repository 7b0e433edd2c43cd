"""Running ``wrk`` with ``post.lua`` and reading what it measured."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

__all__ = ["Load", "WrkResult", "ensure_tools", "run_wrk"]

SCRIPT = Path(__file__).with_name("post.lua")


@dataclasses.dataclass(frozen=True)
class Load:
    """One wrk run: where to, what to send, how hard and for how long."""

    url: str
    bodies: Path
    connections: int
    #: Seconds, rounded to whole ones: wrk takes no fractions.
    duration: float
    headers: Path | None = None
    idempotency: bool = False
    inspect: bool = False
    #: Stop after this many responses (a little more: requests in flight still answer).
    max_requests: int = 0
    #: Mean pause of each connection before each request (random, exponentially distributed): a paced load of
    #: independent arrivals instead of as-fast-as-answered.
    delay_ms: int = 0
    run_id: str = "run"
    threads: int = 1


@dataclasses.dataclass(frozen=True)
class WrkResult:
    """What one run measured; latencies in milliseconds."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]
    statuses: dict[str, int]
    completed: int
    answered: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded."""
        out = dataclasses.asdict(self)
        for key in ("seconds", "rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms"):
            out[key] = round(out[key], 3 if key.endswith("_ms") else 1)
        return out


def ensure_tools() -> None:
    """wrk and nginx from Debian's packages, installed when missing (the benchmark needs both)."""
    missing = [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"bench: {', '.join(missing)} missing; install them: sudo apt-get install -y wrk nginx")
    print(f"bench: installing {', '.join(missing)} from Debian's packages", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607 - the system's package manager
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk", "nginx"], check=True)  # noqa: S607


def run_wrk(load: Load) -> WrkResult:
    """Run wrk once and parse the line ``post.lua`` prints at the end."""
    env = {
        **os.environ,
        "BENCH_PATH": urllib.parse.urlsplit(load.url).path or "/",
        "BENCH_BODIES": str(load.bodies),
        "BENCH_HEADERS": str(load.headers or ""),
        "BENCH_IDEMPOTENCY": "1" if load.idempotency else "0",
        "BENCH_INSPECT": "1" if load.inspect else "0",
        "BENCH_MAX": str(load.max_requests),
        "BENCH_DELAY_MS": str(load.delay_ms),
        "BENCH_RUN": load.run_id,
    }
    timeout_s = max(10, int(load.duration * 2))
    seconds = max(1, round(load.duration))
    command = [
        "wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
        "-s", str(SCRIPT), load.url,
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        marker = Path(tmp) / "done"
        env["BENCH_DONE_FILE"] = str(marker)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
        if load.max_requests:
            # Every thread writes its marker once it has its count; SIGINT makes wrk report at once.
            while proc.poll() is None and len(list(Path(tmp).glob("done.*"))) < load.threads:
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate()
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {stderr.strip()[:500]} {stdout[-500:]}")
    data = json.loads(line[len("BENCH_JSON ") :])
    seconds = data["duration_us"] / 1e6
    lat = data["latency_us"]
    return WrkResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        mean_ms=lat["mean"] / 1000,
        max_ms=lat["max"] / 1000,
        errors=data["errors"],
        statuses={str(k): v for k, v in data["statuses"].items()},
        completed=data["completed"],
        answered=data["answered"],
    )
