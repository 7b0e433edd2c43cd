"""Searching journeys, the same SQL for SQLite and PostgreSQL: filters, a reader's scope, newest first by keyset.

Like the request search (:mod:`gateway.store._search`) a page runs through ``(created_at, id)`` descending and the
cursor is its last row, so journeys started meanwhile never shift a page. A row is a summary: the journey's
definition, counter, MPP, status, problem, timing, visit figures, the masked NIK and how many of its steps are done;
never its envelope, result or corrected inputs (nothing sealed is read), whoever searches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson

from contracts import JourneyStatus, StepStatus

from ._search import (
    DEFAULT_SEARCH_LIMIT,
    Dialect,
    Params,
    ReaderScope,
    SearchCursor,
    check_window,
    filters_where,
    newest_first,
    split_page,
    window_where,
)

__all__ = ["JourneyPage", "JourneyQuery", "JourneySummary", "journey_page_of", "journey_search_sql"]

#: Step statuses that are done: the step will not change unless the journey is resumed.
_DONE = tuple(str(s) for s in StepStatus if s not in (StepStatus.PENDING, StepStatus.RUNNING))


@dataclasses.dataclass(frozen=True, slots=True)
class JourneyQuery:
    """What to look for. Every filter given must hold; ``scope`` ``None`` searches every journey (operations)."""

    statuses: tuple[JourneyStatus, ...] = ()
    #: A definition's id (``business.micro-start``).
    journey: str | None = None
    mpp_id: str | None = None
    journey_id: str | None = None
    #: Started at or after.
    since: dt.datetime | None = None
    #: Started before.
    until: dt.datetime | None = None
    scope: ReaderScope | None = None
    limit: int = DEFAULT_SEARCH_LIMIT
    after: SearchCursor | None = None

    def __post_init__(self) -> None:
        check_window(self.limit, self.since, self.until)


@dataclasses.dataclass(frozen=True, slots=True)
class JourneySummary:
    """One journey as a search lists it: no personal data but the masked NIK."""

    id: str
    journey: str
    client_id: str
    mpp_id: str
    nik_masked: str
    status: JourneyStatus
    problem: dict[str, Any] | None
    trace_id: str | None
    visit_budget: float
    within_visit: bool | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    steps_total: int
    steps_done: int

    def as_dict(self) -> dict[str, Any]:
        """The summary as ``GET /v1/journey-runs`` answers it."""
        return {
            "id": self.id,
            "journey": self.journey,
            "mpp_id": self.mpp_id,
            "applicant": {"nik_masked": self.nik_masked},
            "status": str(self.status),
            "problem": self.problem,
            "trace_id": self.trace_id,
            "visit_budget_seconds": self.visit_budget,
            "within_visit": self.within_visit,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at is not None else None,
            "steps_total": self.steps_total,
            "steps_done": self.steps_done,
        }

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> JourneySummary:
        """A summary from a row of :func:`journey_search_sql` (times as text from SQLite, or as datetimes)."""
        (
            id_, journey, client_id, mpp_id, nik_masked, status, problem, trace_id, visit_budget, within_visit,
            created_at, updated_at, finished_at, total, done,
        ) = row  # fmt: skip
        return cls(
            id=id_, journey=journey, client_id=client_id, mpp_id=mpp_id, nik_masked=nik_masked,
            status=JourneyStatus(status), problem=orjson.loads(problem) if problem else None, trace_id=trace_id,
            visit_budget=float(visit_budget), within_visit=None if within_visit is None else bool(within_visit),
            created_at=_time(created_at), updated_at=_time(updated_at),
            finished_at=None if finished_at is None else _time(finished_at), steps_total=int(total),
            steps_done=int(done or 0),
        )  # fmt: skip


def _time(value: dt.datetime | str) -> dt.datetime:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


@dataclasses.dataclass(frozen=True, slots=True)
class JourneyPage:
    """One page of a journey search, newest first, and the cursor of the next (``None`` on the last page)."""

    journeys: list[JourneySummary]
    next_cursor: SearchCursor | None


def journey_search_sql(query: JourneyQuery, dialect: Dialect) -> tuple[str, list[Any]]:
    """The ``SELECT`` of one page (one row more than the limit: its presence says another page follows)."""
    p = Params(dialect)
    where = filters_where(
        p, "j.", query.scope, query.statuses,
        (("id", query.journey_id), ("journey", query.journey), ("mpp_id", query.mpp_id)),
    )  # fmt: skip
    where += window_where(p, "j.", query.since, query.until, query.after)
    done = ", ".join(f"'{s}'" for s in _DONE)
    sql = (
        "SELECT j.id, j.journey, j.client_id, j.mpp_id, j.nik_masked, j.status, j.problem, j.trace_id, "  # noqa: S608 - constants and parameters
        "j.visit_budget, j.within_visit, j.created_at, j.updated_at, j.finished_at, "
        "(SELECT count(*) FROM journey_steps s WHERE s.journey_id = j.id), "
        f"(SELECT count(*) FROM journey_steps s WHERE s.journey_id = j.id AND s.status IN ({done})) "
        "FROM journeys j"
    )
    return sql + newest_first(p, "j.", where, query.limit), p.values


def journey_page_of(found: list[JourneySummary], limit: int) -> JourneyPage:
    """The page of what :func:`journey_search_sql` found: one row more than ``limit`` means another page follows."""
    return JourneyPage(*split_page(found, limit))
