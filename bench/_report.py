"""The results table and the targets of issue 8, judged from one run's results."""

from __future__ import annotations

from typing import Any

__all__ = ["budget", "print_summary", "targets"]


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """Each target with the measured value and whether it is met (``None`` when its scenario did not run)."""
    s = results["scenarios"]
    out: dict[str, Any] = {}
    if "lookup" in s:
        ratios = {c: row["ratio_gateway_to_bare_proxy"] for c, row in s["lookup"]["saturated"].items()}
        out["gateway_over_bare_proxy_>=_0.3"] = {"value": ratios, "met": all(r >= 0.3 for r in ratios.values()),
                                                 "stretch_0.5_met": all(r >= 0.5 for r in ratios.values())}
        if "floors" in s:
            floor = {c: row["bare_proxy"].get("cpu_us_per_request", {}).get("bare_proxy", 0.0) + s["floors"]["sum_us"]
                     for c, row in s["lookup"]["saturated"].items()}  # fmt: skip
            times = {c: round(row["gateway"].get("gateway_cpu_us_per_request", 0.0) / floor[c], 2)
                     for c, row in s["lookup"]["saturated"].items() if floor[c]}  # fmt: skip
            out["gateway_cpu_per_lookup_<=_1.5x_floor"] = {"value": times, "met": all(t <= 1.5 for t in times.values())}
        paced = s["lookup"]["paced"]
        out["p99_added_ms_at_c16_<_10"] = {"value": paced["added_p99_ms"], "met": paced["added_p99_ms"] < 10,
                                          "how": f"paced load, {paced['offered_rps']} req/s offered "
                                                 f"over {paced['connections']} connections, gateway p99 - direct p99"}
        saturated = s["lookup"]["saturated"].get("16")
        if saturated:
            added = saturated["gateway"]["p99_ms"] - saturated["direct"]["p99_ms"]
            out["p99_added_ms_at_c16_saturated"] = {"value": round(added, 3), "met": added < 10,
                                                    "how": "closed loop at full speed: queueing included"}
    if "submissions" in s:
        rates = {c: row["accepted_per_s"] for c, row in s["submissions"].items() if c != "outcomes"}
        out["durable_submissions_per_s_>=_2000"] = {"value": rates, "met": max(rates.values()) >= 2000}
    if "memory" in s and "growth" in s["memory"]:
        out["memory_growth_10k_to_100k_<_10%"] = {"value": s["memory"]["growth"], "met": s["memory"]["growth"] < 0.10}
    return out


def budget(results: dict[str, Any]) -> dict[str, Any]:
    """Per concurrency: the CPU a gateway lookup may cost for half the bare proxy's throughput, against its floor.

    At half the bare proxy's rate the machine's cores must also carry the agency (the mocks) and wrk, at their CPU
    per request measured in the bare proxy's run. The floor is the bare proxy's own CPU per request (HTTP in and
    out) plus scenario 6's sum of the features' floors. Empty unless scenarios 1 and 6 both ran.
    """
    s = results["scenarios"]
    if "lookup" not in s or "floors" not in s:
        return {}
    cores = results["machine"]["nproc"]
    features = s["floors"]["sum_us"]
    out: dict[str, Any] = {}
    for c, row in s["lookup"]["saturated"].items():
        proxy = row["bare_proxy"]
        cpu = proxy.get("cpu_us_per_request", {})
        if not proxy["rps"] or "bare_proxy" not in cpu:
            continue
        target_rps = proxy["rps"] / 2
        others = cpu.get("agency", 0.0) + cpu.get("load_generator", 0.0)
        allowed = cores * 1e6 / target_rps - others
        floor = cpu["bare_proxy"] + features
        out[c] = {
            "target_rps": round(target_rps),
            "allowed_gateway_us": round(allowed, 1),
            "agency_and_wrk_us": round(others, 1),
            "http_floor_us": cpu["bare_proxy"],
            "features_floor_us": features,
            "floor_us": round(floor, 1),
            "gateway_us": row["gateway"].get("gateway_cpu_us_per_request"),
        }
    return out


def _line(cells: list[str], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [_line(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [_line(r, widths) for r in rows]
    return "\n".join(lines)


def print_summary(results: dict[str, Any]) -> None:
    """The results as Markdown tables (what the README shows)."""
    m = results["machine"]
    print(f"\n## Results ({m['nproc']} cores, {m['cpu_model']}, Python {m['python']})\n")
    s = results["scenarios"]
    if "lookup" in s:
        rows = []
        for c, row in s["lookup"]["saturated"].items():
            for target in ("direct", "nginx", "bare_proxy", "gateway"):
                r = row[target]
                rows.append([c, target, f"{r['rps']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                             str(r.get("gateway_cpu_us_per_request", ""))])  # fmt: skip
            rows.append([c, "gateway / bare proxy", f"{row['ratio_gateway_to_bare_proxy']:.2f}", "", "", ""])
            one = s["lookup"].get("one_worker", {}).get("saturated", {}).get(c)
            if one:
                rows.append([c, "gateway, one worker", f"{one['rps']:.0f}", f"{one['p50_ms']:.2f}",
                             f"{one['p99_ms']:.2f}", str(one.get("gateway_cpu_us_per_request", ""))])  # fmt: skip
        print("Lookup `dukcapil.nik.verify`:\n")
        print(table(["conns", "target", "req/s", "p50 ms", "p99 ms", "gateway CPU us/req"], rows))
        paced = s["lookup"]["paced"]
        print(f"\nPaced, {paced['offered_rps']} req/s over {paced['connections']} connections: "
              f"direct p50/p99 {paced['direct']['p50_ms']:.2f}/{paced['direct']['p99_ms']:.2f} ms, "
              f"gateway {paced['gateway']['p50_ms']:.2f}/{paced['gateway']['p99_ms']:.2f} ms: "
              f"added p99 {paced['added_p99_ms']:.2f} ms")  # fmt: skip
        one_paced = s["lookup"].get("one_worker", {}).get("paced")
        if one_paced:
            print(f"Paced, gateway with one worker: p50/p99 {one_paced['p50_ms']:.2f}/{one_paced['p99_ms']:.2f} ms")
    if "submissions" in s:
        rows = []
        for c, r in s["submissions"].items():
            if c == "outcomes":
                continue
            rows.append([c, f"{r['accepted_per_s']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                         f"{r['drain_per_s_overall']:.0f}", str(r["backlog_at_end_of_load"])])  # fmt: skip
        print("\nDurable submissions `bpjs-ketenagakerjaan.peserta.register` (synchronous FULL):\n")
        print(table(["conns", "accepted/s", "p50 ms", "p99 ms", "drained/s", "backlog at end of load"], rows))
    if "faults" in s:
        rows = [[c, f"{r['rps']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['completed_share']:.2%}"]
                for c, r in s["faults"].items()]  # fmt: skip
        print("\nLookup with 10% agency faults (503):\n")
        print(table(["conns", "req/s", "p50 ms", "p99 ms", "completed"], rows))
    if "memory" in s:
        rows = [[str(r["requests"]), f"{r['rss_kib'] / 1024:.1f}"] for r in s["memory"]["marks"].values()]
        print("\nGateway resident size:\n")
        print(table(["requests", "RSS MiB"], rows))
        if "growth" in s["memory"]:
            print(f"\ngrowth: {s['memory']['growth']:.1%}")
    if "toggles" in s:
        rows = []
        for name, r in s["toggles"].items():
            lk = r["lookup"]
            cpu = lk.get("gateway_cpu_us_per_request", 0)
            saved, accepted = r["lookup_cpu_us_saved_vs_all_on"], r["submissions_accepted_per_s"]
            rows.append([name, f"{lk['rps']:.0f}", f"{lk['p99_ms']:.2f}", f"{cpu:.0f}", f"{saved:.0f}",
                         f"{accepted:.0f}"])  # fmt: skip
        print("\nCost of each feature (lookup at the lowest concurrency, submissions at the highest):\n")
        print(table(["config", "lookup req/s", "p99 ms", "CPU us/req", "us saved vs all on", "submissions/s"], rows))
    if "journeys" in s:
        rows = [[c, f"{r['journeys_per_s']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["statuses"])]
                for c, r in s["journeys"]["saturated"].items()]  # fmt: skip
        print("\nJourney `counter.membership-check` (three lookups at three agencies at once, `Prefer: wait=10`):\n")
        print(table(["conns", "journeys/s", "p50 ms", "p99 ms", "statuses"], rows))
        paced = s["journeys"]["paced"]
        print(f"\nPaced, {paced['offered_per_s']} journeys/s over {paced['connections']} connections: the journey "
              f"adds p50 {paced['added_over_slowest_step_p50_ms']} ms, p99 {paced['added_over_slowest_step_p99_ms']} "
              f"ms over its slowest step ({paced['journeys_measured']} journeys, from the store's timestamps)")
    if "floors" in s:
        rows = [[name, f"{us:.1f}"] for name, us in s["floors"]["us_per_lookup"].items()]
        rows.append(["sum", f"{s['floors']['sum_us']:.1f}"])
        print("\nThe floor of each feature: CPU us per lookup of its work alone on the gateway's libraries:\n")
        print(table(["feature", "CPU us/lookup"], rows))
    for c, b in results.get("budget", {}).items():
        print(f"\nc{c}: half the bare proxy is {b['target_rps']} req/s; the cores left after the agency and wrk "
              f"({b['agency_and_wrk_us']:.0f} us/req) allow {b['allowed_gateway_us']:.0f} us of gateway CPU per "
              f"lookup; its floor is {b['floor_us']:.0f} us (HTTP {b['http_floor_us']:.0f} + features "
              f"{b['features_floor_us']:.0f}); the gateway spends {b['gateway_us']} us")  # fmt: skip
    print("\nTargets:")
    for name, t in results.get("targets", {}).items():
        print(f"  {'MET ' if t['met'] else 'MISS'} {name}: {t['value']}")
