"""Several gateway processes on one port: ``mpp-gateway serve --workers N`` (``MPP_WORKERS``).

One Python process runs its event loop on one core. With ``workers`` above one, ``serve`` becomes a supervisor:
it applies the SQLite schema once, then starts that many ``serve --worker K`` children, each listening on the
same host and port with ``SO_REUSEPORT`` so that the kernel spreads connections over them. The workers share
the store exactly as replicas do (leases, the audit chain's lock, reserved webhooks), and their Prometheus
metrics are added up (``prometheus_client``'s multiprocess mode, in a folder the supervisor makes and removes).

The supervisor restarts a worker that dies, forwards SIGTERM and SIGINT to every worker and waits for them to
drain, and stops with exit code 2 when a worker cannot start at all (a configuration error: the worker said why).
Each worker dies with the supervisor (``PR_SET_PDEATHSIG``), so none is left behind when it is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence

import structlog

from ..telemetry import METRICS_DIR_ENV

__all__ = ["supervise"]

log = structlog.get_logger("gateway.workers")

#: A worker exiting with this code did not start (configuration, schema): restarting it would not help.
_CANNOT_START = 2
#: A worker that dies sooner than this after its start waits this long before the next try.
_RESTART_BACKOFF_SECONDS = 1.0
_POLL_SECONDS = 0.2


@dataclasses.dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes]
    started: float


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def supervise(workers: int, worker_argv: Sequence[str], env: Mapping[str, str], *, grace_seconds: float) -> int:
    """Run ``workers`` copies of ``worker_argv`` (plus ``--worker K``) until SIGTERM or SIGINT; the exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="mpp-gateway-metrics-")
    child_env = {**env, METRICS_DIR_ENV: metrics_dir}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start(index: int) -> _Worker:
        argv = [sys.executable, "-m", "gateway", *worker_argv, "--worker", str(index)]
        proc = subprocess.Popen(argv, env=child_env, preexec_fn=_die_with_parent)  # noqa: S603
        log.info("worker.started", worker=index, pid=proc.pid)
        return _Worker(index, proc, time.monotonic())

    running: dict[int, _Worker] = {}
    code = 0
    try:
        running = {i: start(i) for i in range(1, workers + 1)}
        log.info("workers.started", workers=workers)
        restart_at: dict[int, float] = {}
        while not stopping:
            time.sleep(_POLL_SECONDS)
            now = time.monotonic()
            for index, worker in list(running.items()):
                status = worker.proc.poll()
                if status is None:
                    continue
                del running[index]
                _forget_metrics(metrics_dir, worker.proc.pid)
                if status == _CANNOT_START:
                    log.error("worker.cannot_start", worker=index, pid=worker.proc.pid, exit_code=status)
                    stopping, code = True, _CANNOT_START
                    break
                log.error("worker.died", worker=index, pid=worker.proc.pid, exit_code=status)
                young = now - worker.started < _RESTART_BACKOFF_SECONDS * 5
                restart_at[index] = now + (_RESTART_BACKOFF_SECONDS if young else 0.0)
            for index, when in list(restart_at.items()):
                if not stopping and now >= when:
                    del restart_at[index]
                    running[index] = start(index)
    finally:
        _stop_all(list(running.values()), grace_seconds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("workers.stopped", exit_code=code)
    return code


def _stop_all(workers: list[_Worker], grace_seconds: float) -> None:
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds + 10.0
    for worker in workers:
        try:
            worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker.killed", worker=worker.index, pid=worker.proc.pid)
            worker.proc.kill()
            worker.proc.wait()


def _forget_metrics(metrics_dir: str, pid: int) -> None:
    """Drop a dead worker's live gauges (its counters and histograms keep counting in the sum)."""
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]
