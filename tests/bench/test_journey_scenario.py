"""The benchmark's journey scenario: what a journey adds over its slowest step, and how the summary shows it."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from bench._report import print_summary
from bench._stack import Stack

T0 = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)


def at(ms: float) -> str:
    return (T0 + dt.timedelta(milliseconds=ms)).isoformat()


def stack_with_store(tmp_path: Path) -> Stack:
    """A stack whose current gateway's store holds two completed journeys, a failed one and an older one."""
    stack = object.__new__(Stack)
    stack.workdir, stack.gateway_name = tmp_path, "gw-journeys"
    with contextlib.closing(sqlite3.connect(stack.store_path)) as conn:
        conn.executescript(
            "CREATE TABLE journeys (id TEXT, status TEXT, created_at TEXT, finished_at TEXT);"
            "CREATE TABLE journey_steps (journey_id TEXT, name TEXT, request_id TEXT);"
            "CREATE TABLE requests (id TEXT, created_at TEXT, finished_at TEXT);"
        )
        journeys = [("j1", "completed", at(0), at(100)), ("j2", "completed", at(10), at(60)),
                    ("j3", "failed", at(0), at(500)), ("old", "completed", at(-5000), at(-1000))]  # fmt: skip
        steps = [("j1", "a", "r1"), ("j1", "b", "r2"), ("j1", "c", None), ("j2", "a", "r3"), ("j3", "a", "r4"),
                 ("old", "a", "r5")]  # fmt: skip
        requests = [("r1", at(5), at(45)), ("r2", at(6), at(86)), ("r3", at(12), at(52)), ("r4", at(1), at(2)),
                    ("r5", at(-4990), at(-4980))]  # fmt: skip
        conn.executemany("INSERT INTO journeys VALUES (?, ?, ?, ?)", journeys)
        conn.executemany("INSERT INTO journey_steps VALUES (?, ?, ?)", steps)
        conn.executemany("INSERT INTO requests VALUES (?, ?, ?)", requests)
        conn.commit()
    return stack


def test_a_journey_adds_its_duration_less_its_slowest_step(tmp_path: Path) -> None:
    """Per completed journey started since the mark: its stored duration less its slowest step's request, in ms;
    failed journeys, skipped steps and journeys before the mark do not count."""
    added = sorted(stack_with_store(tmp_path).journey_overhead(T0))
    assert added == pytest.approx([10.0, 20.0])  # j2: 50 - 40; j1: 100 - 80 (r2, the slower step)


def test_the_summary_shows_journeys_per_second_and_what_they_add(capsys: pytest.CaptureFixture[str]) -> None:
    """The results table has the journeys per second at each concurrency and the added p50/p99 of the paced run."""
    row = {"journeys_per_s": 94.8, "p50_ms": 162.5, "p99_ms": 278.3, "statuses": {"200": 571}}
    paced = {"offered_per_s": 40, "connections": 16, "journeys_measured": 196,
             "added_over_slowest_step_p50_ms": 26.8, "added_over_slowest_step_p99_ms": 217.3}  # fmt: skip
    results = {"machine": {"nproc": 2, "cpu_model": "x", "python": "3.11"},
               "scenarios": {"journeys": {"saturated": {"16": row}, "paced": paced}}}  # fmt: skip
    print_summary(results)
    out = capsys.readouterr().out
    assert "| 16    | 94.8       | 162.50 | 278.30" in out
    assert "adds p50 26.8 ms, p99 217.3 ms over its slowest step (196 journeys" in out
