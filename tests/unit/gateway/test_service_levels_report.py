"""The report's arithmetic without a database: percentiles, availability from circuit records, the CSV's cells."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics

import pytest

from gateway.http import report_csv
from gateway.store import (
    CIRCUIT_REPORT_TTL_SECONDS,
    CircuitTransition,
    ReportQuery,
    ServiceLevelRow,
    availability,
    percentile,
)

BASE = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def test_percentile_interpolates_like_percentile_cont() -> None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont, Python's inclusive quantiles)."""
    values = [float(v) for v in (5, 1, 9, 3, 7, 20, 11)]
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    assert percentile(ordered, 0.95) == pytest.approx(cuts[94])
    assert percentile(ordered, 0.5) == statistics.median(ordered)
    assert percentile([4.0], 0.99) == 4.0
    assert percentile([], 0.5) is None


def test_a_replica_that_went_silent_counts_only_for_a_while() -> None:
    """A replica's last record counts for CIRCUIT_REPORT_TTL_SECONDS, not to the end of time: a replica that died
    with its circuit open does not make later hours unavailable."""
    records = [CircuitTransition("fake", "gone", BASE, "open")]
    assert availability(records, "fake", BASE, BASE + HOUR, now=BASE + 3 * HOUR) == 0.0
    after = BASE + dt.timedelta(seconds=CIRCUIT_REPORT_TTL_SECONDS)
    assert availability(records, "fake", after, after + HOUR, now=BASE + 3 * HOUR) is None


def test_availability_counts_no_time_after_now_and_only_its_agency() -> None:
    """The current hour is measured up to now; another agency's records do not count."""
    records = [
        CircuitTransition("fake", "a", BASE, "closed"),
        CircuitTransition("fake", "a", BASE + 4 * MINUTE, "open"),
        CircuitTransition("fake", "a", BASE + 6 * MINUTE, "closed"),
        CircuitTransition("other", "a", BASE, "open"),
    ]
    assert availability(records, "fake", BASE, BASE + HOUR, now=BASE + 10 * MINUTE) == 0.8
    assert availability(records, "nobody", BASE, BASE + HOUR, now=BASE + 10 * MINUTE) is None


def row(mpp_id: str, failed: dict[str, int]) -> ServiceLevelRow:
    return ServiceLevelRow(
        bucket_start=BASE, group=(("mpp_id", mpp_id),), requests=3, completed=1, rejected=0,
        failed=sum(failed.values()), failed_by_problem=failed, p50_ms=10.0, p95_ms=None, p99_ms=None, availability=None,
        journeys_within_visit=None, ratings=0, rating_mean=None, rating_elements={},
    )  # fmt: skip


def test_csv_has_a_column_per_problem_type_and_defuses_formulas() -> None:
    """Each problem type present is a ``failed.<slug>`` column (0 where absent); a value a spreadsheet would take
    for a formula starts with an apostrophe."""
    query = ReportQuery(BASE, BASE + HOUR, "hour", ("mpp",))
    text = report_csv(query, [row("=HYPERLINK(1)", {"agency-unavailable": 2}), row("mpp-b", {"x-y": 1})])
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [(r["mpp_id"], r["failed.agency-unavailable"], r["failed.x-y"]) for r in lines] == [
        ("'=HYPERLINK(1)", "2", "0"), ("mpp-b", "0", "1"),
    ]  # fmt: skip
    assert lines[0]["p95_ms"] == "" and lines[0]["rating.waktu"] == ""
