"""The six scenarios of the benchmark. Each returns JSON-ready results and prints its rows as it goes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import time
from pathlib import Path
from typing import Any

from . import _floors
from ._procs import rss_kib
from ._stack import Stack
from ._wrk import run_wrk

__all__ = ["Options", "faults", "floors", "journeys", "lookups", "memory", "submissions", "toggles"]


@dataclasses.dataclass(frozen=True)
class Options:
    """How long and how hard."""

    duration: float = 6.0
    warmup: float = 2.0
    concurrency: tuple[int, ...] = (16, 64)
    #: Requests after which the gateway's resident size is read (scenario 4).
    memory_marks: tuple[int, ...] = (10_000, 100_000)
    #: Offered rate of the paced run that measures the latency the gateway adds when it is not saturated.
    paced_rate: int = 400
    drain_timeout: float = 120.0
    #: Lookups each floor of scenario 6 is measured over.
    floor_lookups: int = 4000
    #: Offered rate of the paced journey run that measures what a journey adds over its slowest step.
    journey_paced_rate: int = 40
    #: A folder for py-spy flame graphs of the gateway during scenario 1, or ``None``.
    profile: Path | None = None


TARGETS = ("direct", "nginx", "bare_proxy", "gateway")


def _row(*cells: object) -> None:
    print("  " + "  ".join(str(c) for c in cells), flush=True)


def lookups(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 1: the verify lookup directly, through nginx, through the bare proxy and through the gateway."""
    print("\n[1] lookup dukcapil.nik.verify (Prefer: wait=10), every gateway feature on", flush=True)
    stack.start_gateway("gw-lookup")
    out: dict[str, Any] = {"saturated": {}, "paced": {}}
    for connections in opts.concurrency:
        rows: dict[str, Any] = {}
        for target in TARGETS:
            load = stack.lookup_load(target, connections, opts.duration, inspect=target == "gateway")
            profile = None
            if opts.profile is not None and target == "gateway":
                profile = opts.profile / f"gateway-lookup-c{connections}.svg"
            measured = stack.measure(load, warmup=opts.warmup, profile=profile)
            rows[target] = measured.as_dict()
            w = measured.wrk
            _row(f"c{connections:<3}", f"{target:<10}", f"{w.rps:8.0f} req/s", f"p50 {w.p50_ms:6.2f} ms",
                 f"p99 {w.p99_ms:6.2f} ms", f"errors {sum(w.errors.values())}", f"statuses {w.statuses}")  # fmt: skip
        ratio = rows["gateway"]["rps"] / rows["bare_proxy"]["rps"] if rows["bare_proxy"]["rps"] else 0.0
        rows["ratio_gateway_to_bare_proxy"] = round(ratio, 3)
        print(f"  c{connections}: gateway / bare proxy = {ratio:.2f}", flush=True)
        out["saturated"][str(connections)] = rows
    # A paced load below every target's capacity: the latency each adds, without queueing in front of it.
    connections = min(opts.concurrency)
    delay_ms = max(1, round(connections * 1000 / opts.paced_rate))
    paced: dict[str, Any] = {}
    for target in ("direct", "bare_proxy", "gateway"):
        load = stack.lookup_load(target, connections, opts.duration, delay_ms=delay_ms)
        w = stack.measure(load, warmup=1.0).wrk
        paced[target] = w.as_dict()
        _row(f"paced c{connections} ~{opts.paced_rate}/s", f"{target:<10}", f"{w.rps:6.0f} req/s",
             f"p50 {w.p50_ms:6.2f} ms", f"p99 {w.p99_ms:6.2f} ms")  # fmt: skip
    paced["added_p50_ms"] = round(paced["gateway"]["p50_ms"] - paced["direct"]["p50_ms"], 3)
    paced["added_p99_ms"] = round(paced["gateway"]["p99_ms"] - paced["direct"]["p99_ms"], 3)
    paced["connections"] = connections
    paced["offered_rps"] = opts.paced_rate
    out["paced"] = paced
    out["one_worker"] = _one_worker(stack, opts, delay_ms)
    return out


def _one_worker(stack: Stack, opts: Options, delay_ms: int) -> dict[str, Any]:
    """The same gateway as one process (``MPP_WORKERS=1``): what the second worker adds on this machine."""
    stack.start_gateway("gw-lookup-1w", {"MPP_WORKERS": "1"})
    out: dict[str, Any] = {"saturated": {}}
    for connections in opts.concurrency:
        measured = stack.measure(stack.lookup_load("gateway", connections, opts.duration, inspect=True),
                                 warmup=opts.warmup)  # fmt: skip
        w = measured.wrk
        out["saturated"][str(connections)] = measured.as_dict()
        _row(f"c{connections:<3}", "gateway, one worker", f"{w.rps:8.0f} req/s", f"p50 {w.p50_ms:6.2f} ms",
             f"p99 {w.p99_ms:6.2f} ms", f"errors {sum(w.errors.values())}")  # fmt: skip
    connections = min(opts.concurrency)
    w = stack.measure(stack.lookup_load("gateway", connections, opts.duration, delay_ms=delay_ms), warmup=1.0).wrk
    out["paced"] = w.as_dict()
    _row(f"paced c{connections} ~{opts.paced_rate}/s", "gateway, one worker", f"{w.rps:6.0f} req/s",
         f"p50 {w.p50_ms:6.2f} ms", f"p99 {w.p99_ms:6.2f} ms")  # fmt: skip
    return out


def submissions(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 2: registrations accepted per second (durable: synchronous FULL), and how fast the queue drains."""
    print("\n[2] submissions bpjs-ketenagakerjaan.peserta.register, unique Idempotency-Keys, no wait", flush=True)
    stack.start_gateway("gw-submit")
    out: dict[str, Any] = {}
    for connections in opts.concurrency:
        stack.reset("bpjs-ketenagakerjaan")
        with stack.watch_queue() as samples:
            started = time.monotonic()
            w = stack.measure(stack.submission_load(connections, opts.duration, f"c{connections}-{time.time_ns()}"),
                              agency="bpjs-ketenagakerjaan").wrk  # fmt: skip
            load_over = time.monotonic()
            backlog = stack.pending()
            while stack.pending() > 0 and time.monotonic() - load_over < opts.drain_timeout:
                time.sleep(0.1)
            drained = time.monotonic()
        left = stack.pending()
        accepted = _accepted(w.statuses)
        drain_s = drained - started
        row = {
            **w.as_dict(),
            "accepted_per_s": round(accepted / w.seconds, 1) if w.seconds else 0.0,
            "backlog_at_end_of_load": backlog,
            "seconds_to_empty_queue_after_load": round(drained - load_over, 2),
            "drain_per_s_overall": round((accepted - left) / drain_s, 1) if drain_s else 0.0,
            "drain_per_s_after_load": round(backlog / (drained - load_over), 1) if backlog else None,
            "left_in_queue": left,
            "max_queue_depth": max((n for _, n in samples), default=0),
        }
        out[str(connections)] = row
        _row(f"c{connections:<3}", f"{row['accepted_per_s']:8.0f} accepted/s", f"p50 {w.p50_ms:6.2f} ms",
             f"p99 {w.p99_ms:6.2f} ms", f"statuses {w.statuses}", f"drained at {row['drain_per_s_overall']:.0f}/s",
             f"backlog {backlog}")  # fmt: skip
    out["outcomes"] = stack.outcomes("submission")
    _row("outcomes", out["outcomes"])
    return out


def _accepted(statuses: dict[str, int]) -> int:
    # A 202, or a 200 when the agency was quick enough to finish the request before the answer was written.
    return statuses.get("202", 0) + statuses.get("200", 0)


def faults(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 3: the lookup with 10% of agency calls answered 503: throughput and the share still completed."""
    print("\n[3] lookup with 10% transient faults at the agency (503)", flush=True)
    stack.start_gateway("gw-faults")
    out: dict[str, Any] = {}
    for connections in opts.concurrency:
        load = stack.lookup_load("gateway", connections, opts.duration, inspect=True)
        stack.reset("dukcapil")
        stack.faults("dukcapil", {"error_rate": 0.1})
        # Not stack.measure(): its reset would turn the faults off again.
        w = run_wrk(load)
        share = w.completed / w.answered if w.answered else 0.0
        out[str(connections)] = {**w.as_dict(), "completed_share": round(share, 4)}
        _row(f"c{connections:<3}", f"{w.rps:8.0f} req/s", f"p50 {w.p50_ms:6.2f} ms", f"p99 {w.p99_ms:6.2f} ms",
             f"completed {share:.2%}", f"statuses {w.statuses}")  # fmt: skip
    stack.reset("dukcapil")
    return out


def memory(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 4: the gateway's resident size after 10k and 100k lookups."""
    print("\n[4] memory: resident size of the gateway after N lookups (c64, every feature on)", flush=True)
    gateway = stack.start_gateway("gw-memory")
    out: dict[str, Any] = {"rss_kib_at_start": rss_kib(gateway.pid), "marks": {}}
    done = 0
    for mark in opts.memory_marks:
        load = stack.lookup_load("gateway", max(opts.concurrency), 600, max_requests=mark - done)
        w = stack.measure(load).wrk
        done += w.answered
        rss = rss_kib(gateway.pid)
        out["marks"][str(mark)] = {"requests": done, "rss_kib": rss, "rps": round(w.rps, 1)}
        _row(f"after {done:>7} requests", f"RSS {rss / 1024:7.1f} MiB", f"({w.rps:.0f} req/s)")
    marks = list(out["marks"].values())
    if len(marks) >= 2:
        out["growth"] = round(marks[-1]["rss_kib"] / marks[0]["rss_kib"] - 1, 4)
        _row(f"growth between {marks[0]['requests']} and {marks[-1]['requests']}: {out['growth']:.1%}")
    return out


#: Each toggle flips one feature from "every feature on".
TOGGLES: dict[str, dict[str, str]] = {
    "all_on": {},
    "trace_sample_0": {"MPP_OTEL_SAMPLE_RATIO": "0.0"},
    "trace_export_none": {"MPP_OTEL_EXPORTER": "none"},
    "log_warning": {"MPP_LOG_LEVEL": "warning"},
    "sqlite_normal": {"MPP_SQLITE_SYNCHRONOUS": "NORMAL"},
    "all_off": {"MPP_OTEL_SAMPLE_RATIO": "0.0", "MPP_OTEL_EXPORTER": "none", "MPP_LOG_LEVEL": "warning",
                "MPP_SQLITE_SYNCHRONOUS": "NORMAL"},
}  # fmt: skip


def toggles(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 5: the cost per request of tracing, logging and durable commits, one toggle at a time."""
    connections = min(opts.concurrency)
    print(f"\n[5] cost of each feature: lookup at c{connections}, submissions at c{max(opts.concurrency)}", flush=True)
    out: dict[str, Any] = {}
    for name, overrides in TOGGLES.items():
        stack.start_gateway(f"gw-{name}", overrides)
        m = stack.measure(stack.lookup_load("gateway", connections, opts.duration), warmup=opts.warmup)
        stack.reset("bpjs-ketenagakerjaan")
        s = stack.measure(stack.submission_load(max(opts.concurrency), opts.duration / 2, f"{name}-{time.time_ns()}"),
                          agency="bpjs-ketenagakerjaan").wrk  # fmt: skip
        out[name] = {
            "lookup": m.as_dict(),
            "submissions_accepted_per_s": round(_accepted(s.statuses) / s.seconds, 1) if s.seconds else 0.0,
        }
        accepted = out[name]["submissions_accepted_per_s"]
        _row(f"{name:<18}", f"lookup {m.wrk.rps:7.0f} req/s", f"p99 {m.wrk.p99_ms:6.2f} ms",
             f"cpu {m.cpu_us_per_request or 0:6.0f} us/req", f"submissions {accepted:6.0f}/s")  # fmt: skip
    base = out["all_on"]["lookup"].get("gateway_cpu_us_per_request", 0.0)
    for row in out.values():
        row["lookup_cpu_us_saved_vs_all_on"] = round(base - row["lookup"].get("gateway_cpu_us_per_request", 0.0), 1)
    stack.stop_gateway()
    return out


def floors(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 6: the least CPU each feature of a lookup costs, in loops on the gateway's libraries alone."""
    print("\n[6] the floor of each feature: CPU per lookup of its work alone (bench/_floors.py)", flush=True)
    rows = _floors.measure(stack.workdir, opts.floor_lookups)
    for name, us in rows.items():
        _row(f"{name:<15}", f"{us:7.1f} us", _floors.FLOORS[name])
    total = round(sum(rows.values()), 1)
    _row(f"{'sum':<15}", f"{total:7.1f} us")
    return {"us_per_lookup": rows, "sum_us": total, "lookups": opts.floor_lookups}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def journeys(stack: Stack, opts: Options) -> dict[str, Any]:
    """Scenario 7: a three-step journey (three lookups at three agencies at once): journeys per second sustained,
    and the time the journey adds over its slowest step."""
    print("\n[7] journey counter.membership-check: Dukcapil, BPJS Kesehatan, BPJS Ketenagakerjaan at once "
          "(Prefer: wait=10)", flush=True)  # fmt: skip
    # The membership check's three agencies (the other scenarios load two adapters).
    stack.start_gateway("gw-journeys", {"MPP_ADAPTERS": "dukcapil,bpjs-kesehatan,bpjs-ketenagakerjaan"})
    out: dict[str, Any] = {"saturated": {}}
    for connections in opts.concurrency:
        w = stack.measure(stack.journey_load(connections, opts.duration), warmup=opts.warmup).wrk
        # 200: the journey ended within the wait; 202: still running when the wait ran out.
        row = {**w.as_dict(), "journeys_per_s": round(w.statuses.get("200", 0) / w.seconds, 1) if w.seconds else 0.0}
        out["saturated"][str(connections)] = row
        _row(f"c{connections:<3}", f"{row['journeys_per_s']:8.1f} journeys/s", f"p50 {w.p50_ms:7.2f} ms",
             f"p99 {w.p99_ms:7.2f} ms", f"statuses {w.statuses}")  # fmt: skip
    # A paced load well below capacity: what the journey itself adds, read from the store per journey.
    connections = min(opts.concurrency)
    delay_ms = max(1, round(connections * 1000 / opts.journey_paced_rate))
    since = dt.datetime.now(dt.UTC)
    w = stack.measure(stack.journey_load(connections, opts.duration, delay_ms=delay_ms)).wrk
    added = sorted(stack.journey_overhead(since))
    p50, p99 = _percentile(added, 0.50), _percentile(added, 0.99)
    out["paced"] = {**w.as_dict(), "offered_per_s": opts.journey_paced_rate, "connections": connections,
                    "journeys_measured": len(added),
                    "added_over_slowest_step_p50_ms": None if p50 is None else round(p50, 3),
                    "added_over_slowest_step_p99_ms": None if p99 is None else round(p99, 3)}  # fmt: skip
    _row(f"paced c{connections} ~{opts.journey_paced_rate}/s", f"{w.rps:6.1f} journeys/s",
         f"p50 {w.p50_ms:7.2f} ms", f"p99 {w.p99_ms:7.2f} ms",
         f"added over the slowest step: p50 {p50 or 0:.2f} ms, p99 {p99 or 0:.2f} ms",
         f"({len(added)} journeys)")  # fmt: skip
    stack.stop_gateway()
    return out
