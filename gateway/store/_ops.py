"""What operators read from the store at a glance: the queue per agency and failures by problem type, the same
queries for SQLite and PostgreSQL.

Both read counts, times and problem types only: never an envelope, a result or anything sealed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FAILURES_SQL",
    "QUEUE_SQL",
    "QueueFigures",
    "failures_from_rows",
    "queue_from_rows",
    "slug_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class QueueFigures:
    """One agency's share of the queue: requests accepted or in progress, and the deferred among them."""

    agency: str
    #: Requests ``accepted`` or ``in_progress``.
    depth: int
    #: When the oldest of them was accepted.
    oldest_at: dt.datetime | None
    #: Requests ``accepted`` whose next try is still ahead (``not_before`` in the future).
    deferred: int
    #: The earliest of those next tries.
    next_try_at: dt.datetime | None


#: The queue per agency; parameters: now (Unix time), twice. ``{p}`` is the driver's placeholder.
_QUEUE = (
    "SELECT agency, count(*), min(created_at), "
    "sum(CASE WHEN status = 'accepted' AND not_before > {p1} THEN 1 ELSE 0 END), "
    "min(CASE WHEN status = 'accepted' AND not_before > {p2} THEN not_before END) "
    "FROM requests WHERE status IN ('accepted', 'in_progress') GROUP BY agency ORDER BY agency"
)
#: Failed requests finished since a time, by problem type. ``requests_retention`` (finished, not purged) serves it;
#: a request purged within the window (a retention shorter than the window) is not counted.
_FAILURES = (
    "SELECT {type}, count(*) FROM requests{index} WHERE status = 'failed' AND finished_at >= {p1} "
    "AND finished_at IS NOT NULL AND purged_at IS NULL GROUP BY 1"
)

QUEUE_SQL = {
    "sqlite": _QUEUE.format(p1="?", p2="?"),
    "postgres": _QUEUE.format(p1="$1", p2="$1"),
}
FAILURES_SQL = {
    # Without statistics SQLite would rather walk every failed request ever (``requests_queue`` leads by status).
    "sqlite": _FAILURES.format(type="json_extract(problem, '$.type')", index=" INDEXED BY requests_retention", p1="?"),
    "postgres": _FAILURES.format(type="problem->>'type'", index="", p1="$1"),
}


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)


def queue_from_rows(rows: Iterable[Iterable[Any]]) -> list[QueueFigures]:
    """``(agency, depth, oldest created_at, deferred, earliest not_before)`` rows as figures."""
    return [
        QueueFigures(str(agency), int(depth), _utc(oldest), int(deferred or 0), _utc(next_try))
        for agency, depth, oldest, deferred, next_try in rows
    ]


def slug_of(problem_type: str | None) -> str:
    """The slug of a problem's ``type`` (``/problems/agency-unavailable`` -> ``agency-unavailable``)."""
    if not problem_type:
        return "unknown"
    return str(problem_type).rstrip("/").rsplit("/", 1)[-1] or "unknown"


def failures_from_rows(rows: Iterable[Iterable[Any]]) -> dict[str, int]:
    """``(problem type, count)`` rows as counts by problem slug, most first."""
    counts: dict[str, int] = {}
    for problem_type, count in rows:
        slug = slug_of(problem_type)
        counts[slug] = counts.get(slug, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
