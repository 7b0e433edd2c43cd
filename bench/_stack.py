"""The stack under test, started once per run: mocks, sink, bare proxy, nginx; gateways come and go per scenario."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from ._bodies import journey_body, lookup_body, register_body, wire_calls, write_lines
from ._procs import (
    HOST,
    Proc,
    cpu_seconds,
    free_port,
    start_gateway,
    start_mocks,
    start_nginx,
    start_server,
    write_clients,
)
from ._wrk import Load, WrkResult, run_wrk

__all__ = ["ALL_ON", "Stack"]

#: Every feature on: traces sampled and exported over OTLP/HTTP, info logs, durable commits; two workers.
ALL_ON = {
    "MPP_LOG_LEVEL": "info",
    "MPP_OTEL_EXPORTER": "otlp",
    "MPP_OTEL_SAMPLE_RATIO": "1.0",
    "MPP_SQLITE_SYNCHRONOUS": "FULL",
    # Enough dispatch slots that dispatch is never what limits a lookup at 64 connections.
    "MPP_DISPATCH_CONCURRENCY": "128",
    # One gateway process per core, as the README advises for the embedded store (scenario 1 also runs one).
    "MPP_WORKERS": "2",
    "MPP_SHUTDOWN_GRACE_SECONDS": "2",
}


@dataclasses.dataclass
class Measured:
    """A wrk result with CPU microseconds per request of each process that took part in it."""

    wrk: WrkResult
    #: ``gateway``, ``agency`` (the mocks), ``bare_proxy``, ``nginx``, ``load_generator`` (wrk): those that worked.
    cpu_us: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def cpu_us_per_request(self) -> float | None:
        """The gateway's CPU per request, when a gateway served it."""
        return self.cpu_us.get("gateway")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = self.wrk.as_dict()
        if self.cpu_us_per_request is not None:
            out["gateway_cpu_us_per_request"] = round(self.cpu_us_per_request, 1)
        if self.cpu_us:
            out["cpu_us_per_request"] = {name: round(value, 1) for name, value in self.cpu_us.items()}
        return out


class Stack:
    """The long-lived processes of a run and the request files made for them."""

    def __init__(self, workdir: Path, gateway_env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        #: Settings every gateway of this run gets on top of :data:`ALL_ON` (``--gateway-env``).
        self.gateway_env = dict(gateway_env or {})
        self.procs: list[Proc] = []
        self.key = write_clients(workdir)
        self.mocks, self.settings, self.origins = start_mocks(workdir)
        self.procs.append(self.mocks)
        citizens = httpx.get(
            self.origins["dukcapil"] + "/_control/citizens", params={"status": "active", "limit": 1000}, timeout=30
        ).json()["citizens"]
        self.citizens = len(citizens)
        self.lookups = write_lines(workdir / "lookups.jsonl", [lookup_body(i, c) for i, c in enumerate(citizens)])
        self.registers = write_lines(workdir / "registers.jsonl", [register_body(i, c) for i, c in enumerate(citizens)])
        self.journeys = write_lines(workdir / "journeys.jsonl", [journey_body(i, c) for i, c in enumerate(citizens)])
        self.wire_path, wire = wire_calls(self.settings, citizens)
        self.wire = write_lines(workdir / "wire.jsonl", wire)
        self.wait_headers = self._headers("wait", {"Authorization": f"Bearer {self.key}", "Prefer": "wait=10"})
        self.plain_headers = self._headers("plain", {"Authorization": f"Bearer {self.key}"})
        self.wire_headers = self._headers("wire", {"Accept": "application/json"})
        dukcapil = self.origins["dukcapil"]
        self.sink_port = free_port()
        self.procs.append(start_server("sink", self.sink_port, workdir))
        self.proxy_port = free_port()
        self.proxy = start_server("proxy", self.proxy_port, workdir, upstream=dukcapil)
        self.procs.append(self.proxy)
        self.nginx_port = free_port()
        self.nginx = start_nginx(workdir, self.nginx_port, dukcapil.split("//", 1)[1])
        self.procs.append(self.nginx)
        self.gateway: Proc | None = None
        self.gateway_port = 0
        self.gateway_name = ""

    def _headers(self, name: str, headers: Mapping[str, str]) -> Path:
        path = self.workdir / f"headers-{name}.txt"
        path.write_text("".join(f"{k}: {v}\n" for k, v in headers.items()), encoding="utf-8")
        return path

    def close(self) -> None:
        """Stop every process this run started, newest first."""
        self.stop_gateway()
        for proc in reversed(self.procs):
            proc.stop()

    # -- gateways ---------------------------------------------------------------------------------------------

    def start_gateway(self, name: str, overrides: Mapping[str, str] | None = None) -> Proc:
        """A fresh gateway (new store) with :data:`ALL_ON` and ``overrides``; the previous one is stopped."""
        self.stop_gateway()
        config = {**ALL_ON, "MPP_OTEL_ENDPOINT": f"http://{HOST}:{self.sink_port}/v1/traces", **self.gateway_env,
                  **(overrides or {})}  # fmt: skip
        self.gateway_port = free_port()
        self.gateway_name = name
        self.gateway = start_gateway(self.workdir, self.settings, self.gateway_port, config, name=name)
        return self.gateway

    def stop_gateway(self) -> None:
        """Stop the current gateway, if any."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None

    @property
    def store_path(self) -> Path:
        """The current gateway's SQLite file."""
        return self.workdir / f"{self.gateway_name}.sqlite3"

    def pending(self) -> int:
        """Requests in the current gateway's queue (accepted or in progress), read from its store."""
        with contextlib.closing(sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)) as conn:
            row = conn.execute("SELECT COUNT(*) FROM requests WHERE status IN ('accepted', 'in_progress')").fetchone()
        return int(row[0])

    def outcomes(self, kind: str) -> dict[str, int]:
        """Requests of ``kind`` in the current gateway's store, by status."""
        with contextlib.closing(sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)) as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM requests WHERE kind = ? GROUP BY status", (kind,))
            return {status: int(n) for status, n in rows}

    # -- mock control -----------------------------------------------------------------------------------------

    def reset(self, agency: str) -> None:
        """Faults off, counters zero, the day's quota back (a full run sends more than one day's quota)."""
        httpx.post(self.origins[agency] + "/_control/reset", timeout=10).raise_for_status()

    def faults(self, agency: str, settings: Mapping[str, Any]) -> None:
        """Set the mock's fault injection."""
        httpx.put(self.origins[agency] + "/_control/faults", json=dict(settings), timeout=10).raise_for_status()

    # -- loads ------------------------------------------------------------------------------------------------

    def lookup_load(self, target: str, connections: int, duration: float, **extra: Any) -> Load:
        """The verify lookup, to the gateway or (as the agency's wire call) to the mock, nginx or the bare proxy."""
        if target == "gateway":
            return Load(f"http://{HOST}:{self.gateway_port}/v1/requests", self.lookups, connections, duration,
                        headers=self.wait_headers, **extra)  # fmt: skip
        origin = {
            "direct": self.origins["dukcapil"],
            "nginx": f"http://{HOST}:{self.nginx_port}",
            "bare_proxy": f"http://{HOST}:{self.proxy_port}",
        }[target]
        return Load(origin + self.wire_path, self.wire, connections, duration, headers=self.wire_headers, **extra)

    def submission_load(self, connections: int, duration: float, run_id: str) -> Load:
        """Registrations with a unique Idempotency-Key each and no wait: every answer is a 202."""
        return Load(f"http://{HOST}:{self.gateway_port}/v1/requests", self.registers, connections, duration,
                    headers=self.plain_headers, idempotency=True, run_id=run_id)  # fmt: skip

    def journey_load(self, connections: int, duration: float, **extra: Any) -> Load:
        """The three-lookup membership check as a journey, answered when it ends (``Prefer: wait=10``)."""
        return Load(f"http://{HOST}:{self.gateway_port}/v1/journeys", self.journeys, connections, duration,
                    headers=self.wait_headers, **extra)  # fmt: skip

    def journey_overhead(self, since: dt.datetime) -> list[float]:
        """Per completed journey started at ``since`` or later, in ms: its duration (start to end, as stored) less
        its slowest step's (the step's request, from stored to final)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=10)) as conn:
            rows = conn.execute(
                "SELECT j.id, j.created_at, j.finished_at, r.created_at, r.finished_at FROM journeys j "
                "JOIN journey_steps s ON s.journey_id = j.id JOIN requests r ON r.id = s.request_id "
                "WHERE j.status = 'completed' AND r.finished_at IS NOT NULL"
            ).fetchall()
        journeys: dict[str, tuple[float, float]] = {}
        for journey_id, started, ended, step_started, step_ended in rows:
            begin = dt.datetime.fromisoformat(started)
            if begin < since:
                continue
            total = (dt.datetime.fromisoformat(ended) - begin).total_seconds()
            step = (dt.datetime.fromisoformat(step_ended) - dt.datetime.fromisoformat(step_started)).total_seconds()
            journeys[journey_id] = (total, max(step, journeys.get(journey_id, (0.0, 0.0))[1]))
        return [(total - slowest) * 1000 for total, slowest in journeys.values()]

    def measure(
        self, load: Load, *, agency: str = "dukcapil", warmup: float = 0.0, profile: Path | None = None
    ) -> Measured:
        """Reset the agency, warm up, reset again, run ``load``; the gateway's CPU per request when it served.

        With ``profile``, py-spy samples the gateway during the run and writes a flame graph (SVG) there.
        """
        if warmup > 0:
            self.reset(agency)
            run_wrk(dataclasses.replace(load, duration=warmup, max_requests=0))
        self.reset(agency)
        through_gateway = ("/v1/requests" in load.url or "/v1/journeys" in load.url) and self.gateway is not None
        procs = {"agency": self.mocks, "bare_proxy": self.proxy, "nginx": self.nginx}
        if through_gateway and self.gateway is not None:
            procs["gateway"] = self.gateway
        before = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        spy = self._profile(profile, load.duration) if through_gateway and profile is not None else None
        result = run_wrk(load)
        if spy is not None:
            spy.wait()
        if not result.requests:
            return Measured(result)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = {name: cpu_seconds(proc.pid) - before[name] for name, proc in procs.items()}
        # wrk and, when profiling, py-spy: the children this process reaped during the run.
        used["load_generator"] = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        # A process that did not take part used next to nothing (its timers); it is left out.
        cpu = {name: seconds / result.requests * 1e6 for name, seconds in used.items()
               if name in {"gateway", "agency", "load_generator"} or seconds / result.requests > 20e-6}  # fmt: skip
        return Measured(result, cpu)

    def _profile(self, out: Path, seconds: float) -> subprocess.Popen[bytes] | None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if self.gateway is None or not Path(spy).exists():
            print("  (py-spy not found: .venv/bin/pip install py-spy)", flush=True)
            return None
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [spy, "record", "--pid", str(self.gateway.pid), "--duration", str(max(1, round(seconds))),
                   "--rate", "200", "--nonblocking", "--threads", "--subprocesses", "--output", str(out)]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603

    @contextlib.contextmanager
    def watch_queue(self, interval: float = 0.25) -> Iterator[list[tuple[float, int]]]:
        """Sample the queue depth in a thread while the body runs: ``[(monotonic time, pending)]``."""
        samples: list[tuple[float, int]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                with contextlib.suppress(sqlite3.Error):
                    samples.append((time.monotonic(), self.pending()))
                stop.wait(interval)

        thread = threading.Thread(target=sample, name="queue-watch", daemon=True)
        thread.start()
        try:
            yield samples
        finally:
            stop.set()
            thread.join()
