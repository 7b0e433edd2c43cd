"""Scenario 6's floors: every feature's loop runs on the gateway's libraries and yields a CPU cost per lookup."""

from __future__ import annotations

from pathlib import Path

from bench._floors import FLOORS, measure


def test_every_floor_is_measured_in_a_child_process(tmp_path: Path) -> None:
    """The child prints one positive figure per row, in order, and leaves its SQLite file in the folder."""
    rows = measure(tmp_path, lookups=64)
    assert list(rows) == list(FLOORS)
    assert all(isinstance(us, float) and us > 0 for us in rows.values())
    assert (tmp_path / "floors.sqlite3").exists()
