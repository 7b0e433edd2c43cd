"""The benchmark driver: ``.venv/bin/python -m bench.run`` (or ``make bench``).

Starts the mock agencies, a local OTLP sink, a bare aiohttp pass-through proxy, nginx and the gateway on
127.0.0.1, drives them with wrk (``bench/post.lua``), prints a table, and writes the results as JSON
(``bench/results/latest.json`` by default). Seven scenarios: the lookup against its floors, durable submissions
and the queue's drain, the lookup under 10% agency faults, the gateway's memory after 10k and 100k requests, the
cost of each feature (tracing, logging, durable commits) toggled one at a time, and the floor of each feature: the
least CPU its work costs on the gateway's libraries alone, set against the CPU a lookup may cost to reach half of
the bare proxy's throughput; and a three-step journey: journeys per second, and what it adds over its slowest
step. Every process it starts is stopped at the end; the whole run takes about six
minutes on 2 cores, half of it the 100k-request memory scenario.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import _scenarios
from ._report import budget, print_summary, targets
from ._scenarios import Options
from ._stack import ALL_ON, Stack
from ._wrk import ensure_tools

__all__ = ["machine", "main"]

SCENARIOS = {
    "lookup": _scenarios.lookups,
    "submissions": _scenarios.submissions,
    "faults": _scenarios.faults,
    "memory": _scenarios.memory,
    "toggles": _scenarios.toggles,
    "floors": _scenarios.floors,
    "journeys": _scenarios.journeys,
}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and write the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=Options.duration, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=Options.warmup, help="seconds of warm-up before a run")
    parser.add_argument("--concurrency", default="16,64", help="connections, comma-separated")
    parser.add_argument("--memory-marks", default="10000,100000", help="requests at which RSS is read")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"scenarios to run: {', '.join(SCENARIOS)}")
    parser.add_argument("--label", default="", help="a note stored with the results")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="MPP_NAME=VALUE",
                        help="a setting for every gateway of the run, e.g. MPP_LOG_LEVEL=warning (repeatable)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results") / "latest.json")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record py-spy flame graphs of the gateway during scenario 1 into DIR")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores) afterwards")
    args = parser.parse_args(argv)
    opts = Options(
        duration=args.duration,
        warmup=args.warmup,
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        memory_marks=tuple(int(m) for m in args.memory_marks.split(",")),
        profile=args.profile,
    )
    gateway_env = dict(item.split("=", 1) for item in args.gateway_env if "=" in item)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    ensure_tools()
    started = time.monotonic()
    results: dict[str, Any] = {
        "label": args.label,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {
            "duration_s": opts.duration,
            "warmup_s": opts.warmup,
            "concurrency": list(opts.concurrency),
            "wrk_threads": 1,
            "gateway": {**ALL_ON, **gateway_env},
        },
        "scenarios": {},
    }
    print(f"machine: {results['machine']}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="mpp-bench-"))
    stack = Stack(workdir, gateway_env)
    try:
        results["citizens"] = stack.citizens
        for name in chosen:
            results["scenarios"][name] = SCENARIOS[name](stack, opts)
    finally:
        stack.close()
        if not args.keep:
            for path in sorted(workdir.glob("**/*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            workdir.rmdir()
        else:
            print(f"work folder kept: {workdir}", file=sys.stderr)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = targets(results)
    results["budget"] = budget(results)
    print_summary(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {args.out} ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
