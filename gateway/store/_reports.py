"""Service levels and satisfaction ratings: what the report reads from the store, the same for SQLite and PostgreSQL.

The report is computed when asked, from the ``requests`` table (whose rows stay after the retention purge: only the
personal data goes), the ``ratings`` table and the ``circuit_transitions`` table (migration 0007). So it agrees
with the requests whatever restarted, and every replica answers the same.

- A request counts in the bucket of its acceptance (``created_at``, UTC) and in the group of its agency, service
  and MPP. ``completed``, ``rejected`` and ``failed`` count final requests, ``failed_by_problem`` the failed ones
  by problem type; the rest of ``requests`` is not final yet.
- ``p50_ms``, ``p95_ms``, ``p99_ms``: exact percentiles (linear interpolation, as PostgreSQL's ``percentile_cont``)
  of final requests' durations, acceptance to final status. Rows arrive ordered by acceptance, so only the
  durations of the bucket being read are held in memory, whatever the window.
- ``availability`` (rows grouped by agency): the share of the bucket's time the agency's circuit was closed, as
  the replicas reported it (:func:`availability`), averaged over the replicas that reported during the bucket;
  ``None`` when none did.
- Ratings count in the bucket and group of the request rated. ``rating_elements`` is each element's mean over the
  ratings that scored it; ``rating_mean`` the mean of those element means (each element weighs the same, as the
  SKM index of PermenPAN-RB 14/2017 weighs them).
- A journey's rating (``journey_ratings``, migration 0010) counts in the bucket of the journey's start, once in
  each group its steps' requests reached (their agency and service, the journey's MPP), as
  ``journeys_within_visit`` does: it adds to ``ratings`` and to the element means as a request's rating does. A
  journey is rated as one visit, so a row grouped by MPP counts it once however many steps it had.
- ``journeys_within_visit``: of the ended journeys started in the bucket whose steps reached the row's group (its
  agency, service or MPP), the share that ended within their visit budget; ``None`` when there were none.

Nothing here reads an envelope, a result or anything sealed: the report holds counts, times and names of services,
agencies, MPPs and problem types only.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

__all__ = [
    "CIRCUIT_HEARTBEAT_SECONDS",
    "CIRCUIT_REPORT_TTL_SECONDS",
    "GROUPS",
    "INSERT_JOURNEY_RATING_SQL",
    "INSERT_RATING_SQL",
    "INSERT_TRANSITION_SQL",
    "JOURNEY_RATINGS_SQL",
    "MAX_REPORT_DAYS",
    "RATINGS_SQL",
    "REQUESTS_SQL",
    "SELECT_JOURNEY_RATING_SQL",
    "SELECT_RATING_SQL",
    "SKM_ELEMENTS",
    "TRANSITIONS_SQL",
    "CircuitTransition",
    "JourneyRating",
    "Rating",
    "ReportQuery",
    "ServiceLevelBuilder",
    "ServiceLevelRow",
    "availability",
    "bucket_start",
    "journey_rating_from_row",
    "journey_rating_params",
    "percentile",
    "rating_from_row",
    "rating_params",
    "slug_of",
    "sql",
    "transition_from_row",
]

#: The elements of the public-service satisfaction survey (SKM, PermenPAN-RB 14/2017), each scored 1-4.
SKM_ELEMENTS: tuple[str, ...] = (
    "persyaratan",
    "prosedur",
    "waktu",
    "biaya",
    "produk",
    "kompetensi",
    "perilaku",
    "sarana",
    "penanganan_pengaduan",
)
#: What a report may be grouped by, and the row field each fills.
GROUPS: dict[str, str] = {"agency": "agency", "service": "service", "mpp": "mpp_id"}
#: The longest window one report covers.
MAX_REPORT_DAYS = 31
#: How often a replica records the state of every agency's circuit even when it did not change.
CIRCUIT_HEARTBEAT_SECONDS = 300.0
#: How long a replica's last recorded state counts when nothing follows it (it stopped, or died): two heartbeats.
CIRCUIT_REPORT_TTL_SECONDS = 2 * CIRCUIT_HEARTBEAT_SECONDS

Bucket = Literal["hour", "day"]
_STEP = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}


@dataclasses.dataclass(frozen=True, slots=True)
class CircuitTransition:
    """An agency's circuit as one replica saw it from ``at`` on: ``closed``, ``open`` or ``half_open``."""

    agency: str
    #: The replica's dispatcher (its lease owner name, ``host:pid``).
    replica: str
    at: dt.datetime
    state: str


@dataclasses.dataclass(frozen=True, slots=True)
class Rating:
    """A citizen's rating of a finished request: SKM element -> score 1-4. No free text, nothing about the person."""

    request_id: str
    service: str
    agency: str
    mpp_id: str
    rated_at: dt.datetime
    scores: Mapping[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class JourneyRating:
    """A citizen's rating of a finished journey (one visit): SKM element -> score 1-4. Nothing about the person."""

    journey_id: str
    #: The definition's id (``business.micro-start``).
    journey: str
    mpp_id: str
    rated_at: dt.datetime
    scores: Mapping[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class ReportQuery:
    """One report: requests accepted in ``[start, end)`` (UTC), per ``bucket``, grouped by ``group_by``."""

    start: dt.datetime
    end: dt.datetime
    bucket: Bucket = "hour"
    #: Names from :data:`GROUPS`, in the order asked.
    group_by: tuple[str, ...] = ("agency",)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a report's window needs time zones")
        if self.bucket not in _STEP:
            raise ValueError(f"unknown bucket {self.bucket!r}")
        if unknown := [g for g in self.group_by if g not in GROUPS]:
            raise ValueError(f"unknown grouping {unknown[0]!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceLevelRow:
    """One bucket of one group: the figures of the report's row."""

    bucket_start: dt.datetime
    #: The group's values, by field (``agency``, ``service``, ``mpp_id``): only the fields grouped by.
    group: tuple[tuple[str, str], ...]
    requests: int
    completed: int
    rejected: int
    failed: int
    failed_by_problem: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    availability: float | None
    journeys_within_visit: float | None
    ratings: int
    rating_mean: float | None
    rating_elements: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """The row as the report's JSON has it."""
        return {
            "bucket_start": self.bucket_start.isoformat(),
            **dict(self.group),
            "requests": self.requests,
            "completed": self.completed,
            "rejected": self.rejected,
            "failed": self.failed,
            "failed_by_problem": self.failed_by_problem,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "availability": self.availability,
            "journeys_within_visit": self.journeys_within_visit,
            "ratings": self.ratings,
            "rating_mean": self.rating_mean,
            "rating_elements": self.rating_elements,
        }


def bucket_start(at: dt.datetime, bucket: Bucket) -> dt.datetime:
    """The start (UTC) of the hour or day ``at`` falls in."""
    at = at.astimezone(dt.UTC)
    if bucket == "day":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(minute=0, second=0, microsecond=0)


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The ``p`` quantile (0-1) of ascending ``ordered`` by linear interpolation (``percentile_cont``)."""
    if not ordered:
        return None
    rank = p * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def slug_of(problem_type: str | None) -> str:
    """The slug of a problem ``type`` URI (``/problems/agency-unavailable`` -> ``agency-unavailable``)."""
    return problem_type.rsplit("/", 1)[-1] if problem_type else "unknown"


def _ms(value: float) -> float:
    return round(value, 1)


def _utc(value: dt.datetime | str) -> dt.datetime:
    at = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(dt.UTC)


@dataclasses.dataclass
class _Cell:
    requests: int = 0
    completed: int = 0
    rejected: int = 0
    failed: int = 0
    failed_by_problem: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    durations: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Visits:
    """The ended journeys of one cell, by id (a journey reaches a cell through each of its steps' requests)."""

    ended: set[str] = dataclasses.field(default_factory=set)
    within: set[str] = dataclasses.field(default_factory=set)

    def share(self) -> float | None:
        return round(len(self.within) / len(self.ended), 4) if self.ended else None


@dataclasses.dataclass
class _Scores:
    ratings: int = 0
    sums: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


class ServiceLevelBuilder:
    """Builds the report's rows from the window's rows, fed in acceptance order.

    Feed the ratings first (:meth:`add_rating`: one small sum per cell), the ended journeys
    (:meth:`add_journey_step`), the circuit transitions (:meth:`add_transitions`), then the requests
    (:meth:`add_request`) in ``created_at`` order, and read :meth:`rows`. A bucket's durations are dropped as soon
    as the next bucket starts.
    """

    def __init__(self, query: ReportQuery, *, now: dt.datetime) -> None:
        self._query = query
        self._now = now
        self._fields = [GROUPS[g] for g in query.group_by]
        self._scores: dict[tuple[dt.datetime, tuple[tuple[str, str], ...]], _Scores] = {}
        self._visits: dict[tuple[dt.datetime, tuple[tuple[str, str], ...]], _Visits] = {}
        self._journeys_rated: dict[tuple[dt.datetime, tuple[tuple[str, str], ...]], set[str]] = {}
        self._transitions: list[CircuitTransition] = []
        self._bucket: dt.datetime | None = None
        self._cells: dict[tuple[tuple[str, str], ...], _Cell] = {}
        self._rows: list[ServiceLevelRow] = []

    def _group(self, agency: str, service: str, mpp_id: str) -> tuple[tuple[str, str], ...]:
        values = {"agency": agency, "service": service, "mpp_id": mpp_id}
        return tuple((field, values[field]) for field in self._fields)

    def add_rating(
        self, created_at: dt.datetime | str, agency: str, service: str, mpp_id: str, scores: Sequence[int | None]
    ) -> None:
        """One rating of a request accepted at ``created_at``: scores in :data:`SKM_ELEMENTS` order, ``None`` for
        an element not scored."""
        key = (bucket_start(_utc(created_at), self._query.bucket), self._group(agency, service, mpp_id))
        cell = self._scores.setdefault(key, _Scores())
        cell.ratings += 1
        for element, score in zip(SKM_ELEMENTS, scores, strict=True):
            if score is not None:
                cell.sums[element] += int(score)
                cell.counts[element] += 1

    def add_journey_rating(
        self,
        journey_id: str,
        created_at: dt.datetime | str,
        agency: str,
        service: str,
        mpp_id: str,
        *scores: int | None,
    ) -> None:
        """One rating of a journey started at ``created_at``, given once per agency and service its steps' requests
        used: it counts once in each cell it reaches (scores in :data:`SKM_ELEMENTS` order)."""
        key = (bucket_start(_utc(created_at), self._query.bucket), self._group(agency, service, mpp_id))
        seen = self._journeys_rated.setdefault(key, set())
        if journey_id in seen:
            return
        seen.add(journey_id)
        cell = self._scores.setdefault(key, _Scores())
        cell.ratings += 1
        for element, score in zip(SKM_ELEMENTS, scores, strict=True):
            if score is not None:
                cell.sums[element] += int(score)
                cell.counts[element] += 1

    def add_journey_step(
        self, journey_id: str, created_at: dt.datetime | str, agency: str, service: str, mpp_id: str, within: object
    ) -> None:
        """One ended journey started at ``created_at``, once per agency and service its steps' requests used;
        ``within`` says whether it ended within its visit budget. It counts once in each cell it reaches."""
        key = (bucket_start(_utc(created_at), self._query.bucket), self._group(agency, service, mpp_id))
        visits = self._visits.setdefault(key, _Visits())
        visits.ended.add(journey_id)
        if within:
            visits.within.add(journey_id)

    def add_transitions(self, transitions: Iterable[CircuitTransition]) -> None:
        """The circuit states the replicas recorded over the window (with each one's last state before it)."""
        self._transitions.extend(transitions)

    def add_request(
        self,
        created_at: dt.datetime | str,
        agency: str,
        service: str,
        mpp_id: str,
        status: str,
        problem_type: str | None,
        finished_at: dt.datetime | str | None,
    ) -> None:
        """One request of the window; requests must come in ``created_at`` order."""
        created = _utc(created_at)
        start = bucket_start(created, self._query.bucket)
        if start != self._bucket:
            self._close_bucket()
            self._bucket = start
        cell = self._cells.setdefault(self._group(agency, service, mpp_id), _Cell())
        cell.requests += 1
        if status not in ("completed", "rejected", "failed"):
            return
        if status == "completed":
            cell.completed += 1
        elif status == "rejected":
            cell.rejected += 1
        else:
            cell.failed += 1
            cell.failed_by_problem[slug_of(problem_type)] += 1
        if finished_at is not None:
            cell.durations.append(max(0.0, (_utc(finished_at) - created).total_seconds() * 1000))

    def _close_bucket(self) -> None:
        start = self._bucket
        if start is None:
            return
        end = start + _STEP[self._query.bucket]
        for group in sorted(self._cells):
            cell = self._cells[group]
            cell.durations.sort()
            scores = self._scores.get((start, group), _Scores())
            elements = {e: round(scores.sums[e] / scores.counts[e], 3) for e in SKM_ELEMENTS if scores.counts[e]}
            agency = dict(group).get("agency")
            p50, p95, p99 = (percentile(cell.durations, p) for p in (0.50, 0.95, 0.99))
            self._rows.append(
                ServiceLevelRow(
                    bucket_start=start,
                    group=group,
                    requests=cell.requests,
                    completed=cell.completed,
                    rejected=cell.rejected,
                    failed=cell.failed,
                    failed_by_problem=dict(sorted(cell.failed_by_problem.items())),
                    p50_ms=None if p50 is None else _ms(p50),
                    p95_ms=None if p95 is None else _ms(p95),
                    p99_ms=None if p99 is None else _ms(p99),
                    availability=(
                        None if agency is None else availability(self._transitions, agency, start, end, now=self._now)
                    ),
                    journeys_within_visit=self._visits.get((start, group), _Visits()).share(),
                    ratings=scores.ratings,
                    rating_mean=round(sum(elements.values()) / len(elements), 3) if elements else None,
                    rating_elements=elements,
                )
            )
        self._cells = {}

    def rows(self) -> list[ServiceLevelRow]:
        """The report's rows, by bucket, then by group."""
        self._close_bucket()
        self._bucket = None
        return self._rows


def availability(
    transitions: Iterable[CircuitTransition], agency: str, start: dt.datetime, end: dt.datetime, *, now: dt.datetime
) -> float | None:
    """The share of ``[start, end)`` the circuit of ``agency`` was closed, averaged over the replicas that
    reported during it; ``None`` when none did.

    A replica's recorded state holds from its ``at`` until its next record for the agency, or for
    :data:`CIRCUIT_REPORT_TTL_SECONDS` when nothing follows (replicas record every agency's state at start and
    every :data:`CIRCUIT_HEARTBEAT_SECONDS`, so a replica that stopped or died stops counting soon after). Time
    after ``now`` is not counted.
    """
    end = min(end, now)
    if end <= start:
        return None
    by_replica: dict[str, list[CircuitTransition]] = collections.defaultdict(list)
    for t in transitions:
        if t.agency == agency:
            by_replica[t.replica].append(t)
    shares = []
    for records in by_replica.values():
        records.sort(key=lambda t: t.at)
        covered = closed = 0.0
        for here, after in zip(records, [*records[1:], None], strict=True):
            until = here.at + dt.timedelta(seconds=CIRCUIT_REPORT_TTL_SECONDS)
            if after is not None:
                until = min(until, after.at)
            span = (min(until, end) - max(here.at, start)).total_seconds()
            if span <= 0:
                continue
            covered += span
            if here.state == "closed":
                closed += span
        if covered > 0:
            shares.append(closed / covered)
    if not shares:
        return None
    return round(sum(shares) / len(shares), 4)


# -- SQL, the same for both databases: ``{p1}``, ``{p2}``, ... are the driver's placeholders ---------------------

#: The window's requests in acceptance order; parameters: start, end.
REQUESTS_SQL = (
    "SELECT created_at, agency, service, mpp_id, status, {problem_type}, finished_at FROM requests "
    "WHERE created_at >= {p1} AND created_at < {p2} ORDER BY created_at"
)
_SCORES = ", ".join(SKM_ELEMENTS)
#: The ratings of the window's requests; parameters: start, end.
RATINGS_SQL = (
    f"SELECT r.created_at, r.agency, r.service, r.mpp_id, {', '.join(f'g.{e}' for e in SKM_ELEMENTS)} "  # noqa: S608 - constant
    "FROM ratings g JOIN requests r ON r.id = g.request_id WHERE r.created_at >= {p1} AND r.created_at < {p2}"
)
#: The ended journeys started in the window, with the agency and service of each of their steps' requests;
#: parameters: start, end.
JOURNEY_VISITS_SQL = (
    "SELECT DISTINCT j.id, j.created_at, r.agency, r.service, j.mpp_id, j.within_visit FROM journeys j "
    "JOIN journey_steps s ON s.journey_id = j.id JOIN requests r ON r.id = s.request_id "
    "WHERE j.created_at >= {p1} AND j.created_at < {p2} AND j.within_visit IS NOT NULL"
)
#: The ratings of the journeys started in the window, once per agency and service of their steps' requests;
#: parameters: start, end.
JOURNEY_RATINGS_SQL = (
    f"SELECT DISTINCT j.id, j.created_at, r.agency, r.service, j.mpp_id, {', '.join(f'g.{e}' for e in SKM_ELEMENTS)} "  # noqa: S608 - constant
    "FROM journey_ratings g JOIN journeys j ON j.id = g.journey_id JOIN journey_steps s ON s.journey_id = j.id "
    "JOIN requests r ON r.id = s.request_id WHERE j.created_at >= {p1} AND j.created_at < {p2}"
)
#: The circuit records of the window, with each replica's last record before it; parameters: start, end, start.
TRANSITIONS_SQL = (
    "SELECT agency, replica, at, state FROM circuit_transitions WHERE at >= {p1} AND at < {p2} "
    "UNION ALL SELECT t.agency, t.replica, t.at, t.state FROM circuit_transitions t "
    "WHERE t.at = (SELECT max(u.at) FROM circuit_transitions u WHERE u.agency = t.agency "
    "AND u.replica = t.replica AND u.at < {p3})"
)
#: One circuit record; parameters: agency, replica, at, state.
INSERT_TRANSITION_SQL = "INSERT INTO circuit_transitions (agency, replica, at, state) VALUES ({p1}, {p2}, {p3}, {p4})"


def _rating_sql(table: str, columns: tuple[str, ...]) -> tuple[str, str]:
    """The insert (unless the row the first column names has a rating) and the select by that column of a ratings
    table whose columns are ``columns`` and the scores."""
    named = f"{', '.join(columns)}, {_SCORES}"
    marks = ", ".join(f"{{p{i}}}" for i in range(1, 1 + len(columns) + len(SKM_ELEMENTS)))
    insert = f"INSERT INTO {table} ({named}) VALUES ({marks}) ON CONFLICT ({columns[0]}) DO NOTHING"  # noqa: S608
    select = f"SELECT {named} FROM {table} WHERE {columns[0]} = {{p1}}"  # noqa: S608 - constant names
    return insert, select


#: A rating, unless the request has one (parameters: request id, service, agency, MPP, rated at, the scores), and
#: the rating of a request (parameter: request id).
INSERT_RATING_SQL, SELECT_RATING_SQL = _rating_sql(
    "ratings", ("request_id", "service", "agency", "mpp_id", "rated_at")
)
#: A journey's rating, unless it has one (parameters: journey id, definition, MPP, rated at, the scores), and the
#: rating of a journey (parameter: journey id).
INSERT_JOURNEY_RATING_SQL, SELECT_JOURNEY_RATING_SQL = _rating_sql(
    "journey_ratings", ("journey_id", "journey", "mpp_id", "rated_at")
)


def sql(template: str, placeholder: str, **extra: str) -> str:
    """``template`` with the driver's placeholders: ``"?"`` (SQLite) or ``"$"`` (PostgreSQL, numbered)."""
    marks = {f"p{i}": placeholder if placeholder == "?" else f"${i}" for i in range(1, 20)}
    return template.format(**marks, **extra)


def rating_params(rating: Rating, at: Any) -> tuple[Any, ...]:
    """The parameters of :data:`INSERT_RATING_SQL` (``at``: the rating time as the driver takes it)."""
    return (
        rating.request_id, rating.service, rating.agency, rating.mpp_id, at,
        *(rating.scores.get(e) for e in SKM_ELEMENTS),
    )  # fmt: skip


def rating_from_row(row: Sequence[Any]) -> Rating:
    """A :class:`Rating` from a row of :data:`SELECT_RATING_SQL`."""
    request_id, service, agency, mpp_id, rated_at, *scores = row
    return Rating(
        request_id=request_id,
        service=service,
        agency=agency,
        mpp_id=mpp_id,
        rated_at=_utc(rated_at),
        scores={e: int(s) for e, s in zip(SKM_ELEMENTS, scores, strict=True) if s is not None},
    )


def journey_rating_params(rating: JourneyRating, at: Any) -> tuple[Any, ...]:
    """The parameters of :data:`INSERT_JOURNEY_RATING_SQL` (``at``: the rating time as the driver takes it)."""
    return (rating.journey_id, rating.journey, rating.mpp_id, at, *(rating.scores.get(e) for e in SKM_ELEMENTS))


def journey_rating_from_row(row: Sequence[Any]) -> JourneyRating:
    """A :class:`JourneyRating` from a row of :data:`SELECT_JOURNEY_RATING_SQL`."""
    journey_id, journey, mpp_id, rated_at, *scores = row
    return JourneyRating(
        journey_id=journey_id,
        journey=journey,
        mpp_id=mpp_id,
        rated_at=_utc(rated_at),
        scores={e: int(s) for e, s in zip(SKM_ELEMENTS, scores, strict=True) if s is not None},
    )


def transition_from_row(row: Sequence[Any]) -> CircuitTransition:
    """A :class:`CircuitTransition` from a row of :data:`TRANSITIONS_SQL`."""
    agency, replica, at, state = row
    return CircuitTransition(agency=agency, replica=replica, at=_utc(at), state=state)
