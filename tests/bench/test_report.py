"""The benchmark's judgement of the issue's targets, from a results document (no timing is measured here)."""

from __future__ import annotations

from typing import Any

import pytest

from bench._report import budget, table, targets


def _results(gateway_rps: float, added_p99: float, accepted: float, growth: float) -> dict[str, Any]:
    def row(rps: float, p99: float) -> dict[str, Any]:
        return {"rps": rps, "p50_ms": 1.0, "p99_ms": p99}

    saturated = {
        "direct": row(8000, 4.0), "nginx": row(7000, 5.0), "bare_proxy": row(4000, 6.0),
        "gateway": row(gateway_rps, 9.0), "ratio_gateway_to_bare_proxy": gateway_rps / 4000,
    }  # fmt: skip
    return {
        "scenarios": {
            "lookup": {
                "saturated": {"16": saturated},
                "paced": {"added_p99_ms": added_p99, "offered_rps": 400, "connections": 16},
            },
            "submissions": {"16": {"accepted_per_s": accepted}, "outcomes": {"completed": 1}},
            "memory": {"growth": growth},
        }
    }


@pytest.mark.parametrize(
    ("gateway_rps", "added_p99", "accepted", "growth", "met"),
    [
        (1200, 9.9, 2000, 0.09, [True, True, True, True, True]),
        (1199, 10.0, 1999, 0.10, [False, False, True, False, False]),
    ],
)
def test_targets_are_met_at_their_thresholds(
    gateway_rps: float, added_p99: float, accepted: float, growth: float, met: list[bool]
) -> None:
    """Each target is judged against its threshold: >= 0.3 of the bare proxy, paced p99 added < 10 ms, saturated
    p99 added < 10 ms, >= 2000 durable submissions/s, memory growth < 10%."""
    judged = targets(_results(gateway_rps, added_p99, accepted, growth))
    assert [t["met"] for t in judged.values()] == met
    assert list(judged) == [
        "gateway_over_bare_proxy_>=_0.3",
        "p99_added_ms_at_c16_<_10",
        "p99_added_ms_at_c16_saturated",
        "durable_submissions_per_s_>=_2000",
        "memory_growth_10k_to_100k_<_10%",
    ]


def test_targets_skip_scenarios_that_did_not_run() -> None:
    """A run of some scenarios judges only their targets."""
    assert targets({"scenarios": {}}) == {}


def test_table_is_markdown_with_aligned_columns() -> None:
    """The printed table is Markdown: a header, a rule, and one row per entry, padded to the widest cell."""
    assert table(["a", "bb"], [["ccc", "d"]]).splitlines() == ["| a   | bb |", "|-----|----|", "| ccc | d  |"]


def test_budget_sets_the_floor_against_what_half_the_bare_proxy_allows() -> None:
    """At half of 4000 req/s two cores give 1000 us per lookup, less the agency's and wrk's; the floor adds up."""
    results = _results(1000, 4.0, 3000, 0.05)
    results["machine"] = {"nproc": 2}
    proxy = results["scenarios"]["lookup"]["saturated"]["16"]["bare_proxy"]
    proxy["cpu_us_per_request"] = {"bare_proxy": 150.0, "agency": 120.0, "load_generator": 30.0}
    results["scenarios"]["lookup"]["saturated"]["16"]["gateway"]["gateway_cpu_us_per_request"] = 1900.0
    assert budget(results) == {}
    results["scenarios"]["floors"] = {"us_per_lookup": {"store": 300.0, "logging": 50.5}, "sum_us": 350.5}
    assert budget(results) == {
        "16": {
            "target_rps": 2000,
            "allowed_gateway_us": 850.0,
            "agency_and_wrk_us": 150.0,
            "http_floor_us": 150.0,
            "features_floor_us": 350.5,
            "floor_us": 500.5,
            "gateway_us": 1900.0,
        }
    }
