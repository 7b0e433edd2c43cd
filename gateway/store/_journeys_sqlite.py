"""Journeys in the SQLite store (:mod:`gateway.store._journeys`): the methods :class:`SqliteStore` inherits, and the
hooks its insert and finish transactions call."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from contracts import JourneyStatus, RequestStatus, StepStatus

from ._journey_search import JourneyPage, JourneyQuery, JourneySummary, journey_page_of, journey_search_sql
from ._journeys import (
    JOURNEY_COLUMNS,
    STEP_COLUMNS,
    STEP_STATUS,
    NewJourney,
    StepLink,
    StepTaken,
    StoredJourney,
    StoredJourneyStep,
    VisitFigures,
    group_columns,
)
from ._port import AuditEntry, AuditEvent, IdempotencyMismatch, NewWebhook
from ._reports import (
    INSERT_JOURNEY_RATING_SQL,
    SELECT_JOURNEY_RATING_SQL,
    JourneyRating,
    journey_rating_from_row,
    journey_rating_params,
    sql,
)
from ._sealing import KeyRing, open_json, seal_json

__all__ = ["SqliteJourneys", "step_finished", "step_started"]

T = TypeVar("T")
_INSERT_JOURNEY_RATING = sql(INSERT_JOURNEY_RATING_SQL, "?")
_SELECT_JOURNEY_RATING = sql(SELECT_JOURNEY_RATING_SQL, "?")


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def step_started(c: sqlite3.Connection, link: StepLink, request_id: str, at: dt.datetime) -> None:
    """Inside the insert of ``request_id``: its step goes ``pending`` -> ``running``, else :class:`StepTaken`."""
    cur = c.execute(
        "UPDATE journey_steps SET status = 'running', request_id = ?, run = ?, started_at = ?, finished_at = NULL, "
        "problem = NULL, skipped_because = NULL WHERE journey_id = ? AND name = ? AND status = 'pending' AND run = ?",
        (request_id, link.run, _ts(at), link.journey_id, link.step, link.run - 1),
    )
    if cur.rowcount != 1:
        raise StepTaken(f"step {link.step} of {link.journey_id} is not pending at run {link.run - 1}")


def step_finished(c: sqlite3.Connection, request_id: str, status: RequestStatus, at: dt.datetime) -> None:
    """Inside the finish of ``request_id``: the step it runs as takes its final status (nothing for other
    requests, or a status that is not final)."""
    step_status = STEP_STATUS.get(status)
    if step_status is None:
        return
    row = c.execute(
        "UPDATE journey_steps SET status = ?, finished_at = ? WHERE request_id = ? AND status = 'running' "
        "RETURNING journey_id",
        (step_status, _ts(at), request_id),
    ).fetchone()
    if row is not None:
        c.execute("UPDATE journeys SET updated_at = ? WHERE id = ?", (_ts(at), row[0]))


class SqliteJourneys:
    """The :class:`~gateway.store._journeys.JourneyStore` methods of :class:`~gateway.store.SqliteStore`."""

    if TYPE_CHECKING:
        _keys: KeyRing | None

        async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

        async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

        @staticmethod
        def _audit(c: sqlite3.Connection, events: Sequence[AuditEvent]) -> list[AuditEntry]: ...

    async def insert_journey(
        self, journey: NewJourney, *, idempotency: tuple[str, str] | None = None, audit: AuditEvent | None = None
    ) -> str | None:
        """Store the journey ``running`` and its steps ``pending``, or find the one its key names."""
        j = journey
        created = _ts(j.created_at)
        key, fingerprint = idempotency if idempotency is not None else (None, None)
        params = (
            j.id, j.journey, j.client_id, j.mpp_id, j.desk, j.operator, j.nik_masked,
            seal_json(self._keys, j.envelope, column="journeys.envelope", row=j.id), j.trace_id, j.traceparent,
            j.visit_budget, key, fingerprint, created, created,
        )  # fmt: skip

        def op(c: sqlite3.Connection) -> str | None:
            if key is not None:
                row = c.execute(
                    "SELECT fingerprint, id FROM journeys WHERE client_id = ? AND idempotency_key = ?",
                    (j.client_id, key),
                ).fetchone()
                if row is not None:
                    if row[0] != fingerprint:
                        raise IdempotencyMismatch(row[1])
                    return str(row[1])
            c.execute(
                "INSERT INTO journeys (id, journey, client_id, mpp_id, desk, operator, nik_masked, status, envelope, "
                "trace_id, traceparent, visit_budget, idempotency_key, fingerprint, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,'running',?,?,?,?,?,?,?,?)",
                params,
            )
            c.executemany(
                "INSERT INTO journey_steps (journey_id, name, position, status) VALUES (?,?,?,'pending')",
                [(j.id, name, n) for n, name in enumerate(j.steps)],
            )
            if audit is not None:
                self._audit(c, (audit,))
            return None

        return await self._write(op)

    async def get_journey(self, journey_id: str) -> StoredJourney | None:
        """The journey with its steps, or ``None``."""

        def op(c: sqlite3.Connection) -> tuple[Any, list[Any]] | None:
            row = c.execute(f"SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = ?", (journey_id,)).fetchone()  # noqa: S608 - constant
            if row is None:
                return None
            steps = c.execute(
                f"SELECT {STEP_COLUMNS} FROM journey_steps WHERE journey_id = ? ORDER BY position",  # noqa: S608 - constant
                (journey_id,),
            ).fetchall()
            return row, steps

        found = await self._read(op)
        return None if found is None else self._journey(*found)

    def _journey(self, row: Sequence[Any], steps: Sequence[Sequence[Any]]) -> StoredJourney:
        (
            id_, journey, client_id, mpp_id, desk, operator, nik_masked, status, envelope, result, problem, trace_id,
            traceparent, visit_budget, within_visit, created_at, updated_at, finished_at,
        ) = row  # fmt: skip
        return StoredJourney(
            id=id_, journey=journey, client_id=client_id, mpp_id=mpp_id, desk=desk, operator=operator,
            nik_masked=nik_masked, status=JourneyStatus(status),
            envelope=open_json(self._keys, envelope, column="journeys.envelope", row=id_) or {},
            result=open_json(self._keys, result, column="journeys.result", row=id_),
            problem=orjson.loads(problem) if problem else None, trace_id=trace_id, traceparent=traceparent,
            visit_budget=visit_budget, within_visit=None if within_visit is None else bool(within_visit),
            created_at=dt.datetime.fromisoformat(created_at), updated_at=dt.datetime.fromisoformat(updated_at),
            finished_at=_time(finished_at),
            steps=tuple(self._step(id_, s) for s in steps),
        )  # fmt: skip

    def _step(self, journey_id: str, row: Sequence[Any]) -> StoredJourneyStep:
        name, status, request_id, run, override, problem, skipped_because, started_at, finished_at = row
        return StoredJourneyStep(
            name=name, status=StepStatus(status), request_id=request_id, run=run,
            override=open_json(self._keys, override, column="journey_steps.override", row=f"{journey_id}/{name}"),
            problem=orjson.loads(problem) if problem else None, skipped_because=skipped_because,
            started_at=_time(started_at), finished_at=_time(finished_at),
        )  # fmt: skip

    async def skip_steps(self, journey_id: str, reasons: Mapping[str, str], *, at: dt.datetime) -> list[str]:
        """Mark the named pending steps skipped."""
        items = list(reasons.items())

        def op(c: sqlite3.Connection) -> list[str]:
            skipped = []
            for name, reason in items:
                cur = c.execute(
                    "UPDATE journey_steps SET status = 'skipped', skipped_because = ?, finished_at = ? "
                    "WHERE journey_id = ? AND name = ? AND status = 'pending'",
                    (reason, _ts(at), journey_id, name),
                )
                if cur.rowcount == 1:
                    skipped.append(name)
            if skipped:
                c.execute("UPDATE journeys SET updated_at = ? WHERE id = ?", (_ts(at), journey_id))
            return skipped

        return await self._write(op)

    async def fail_step(
        self, journey_id: str, step: str, *, run: int, problem: dict[str, Any], at: dt.datetime
    ) -> bool:
        """A pending step failed before it had a request."""

        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE journey_steps SET status = 'failed', run = ?, problem = ?, request_id = NULL, started_at = ?, "
                "finished_at = ? WHERE journey_id = ? AND name = ? AND status = 'pending' AND run = ?",
                (run, _json(problem), _ts(at), _ts(at), journey_id, step, run - 1),
            )
            if cur.rowcount != 1:
                return False
            c.execute("UPDATE journeys SET updated_at = ? WHERE id = ?", (_ts(at), journey_id))
            return True

        return await self._write(op)

    async def finish_journey(
        self,
        journey_id: str,
        *,
        status: JourneyStatus,
        at: dt.datetime,
        result: dict[str, Any] | None = None,
        problem: dict[str, Any] | None = None,
        webhook: NewWebhook | None = None,
        audit: AuditEvent | None = None,
    ) -> bool:
        """The journey's final status, its webhook and audit entry, in one transaction, if it was running."""

        def op(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "SELECT created_at, visit_budget FROM journeys WHERE id = ? AND status = 'running'", (journey_id,)
            ).fetchone()
            if row is None:
                return False
            within = (at - dt.datetime.fromisoformat(row[0])).total_seconds() <= row[1]
            c.execute(
                "UPDATE journeys SET status = ?, result = ?, problem = ?, within_visit = ?, updated_at = ?, "
                "finished_at = ? WHERE id = ? AND status = 'running'",
                (
                    status, seal_json(self._keys, result, column="journeys.result", row=journey_id), _json(problem),
                    int(within), _ts(at), _ts(at), journey_id,
                ),
            )  # fmt: skip
            if status is JourneyStatus.CANCELLED:
                c.execute(
                    "UPDATE journey_steps SET status = 'cancelled', finished_at = ? "
                    "WHERE journey_id = ? AND status = 'pending'",
                    (_ts(at), journey_id),
                )
            if webhook is not None:
                c.execute(
                    "INSERT INTO webhooks (id, request_id, client_id, url, body, next_at) VALUES (?,?,?,?,?,?)",
                    (webhook.id, journey_id, webhook.client_id, webhook.url,
                     seal_json(self._keys, webhook.body, column="webhooks.body", row=webhook.id), at.timestamp()),
                )  # fmt: skip
            if audit is not None:
                self._audit(c, (audit,))
            return True

        return await self._write(op)

    async def resume_journey(
        self,
        journey_id: str,
        step: str,
        *,
        override: dict[str, Any] | None,
        at: dt.datetime,
        audit: AuditEvent | None = None,
    ) -> bool:
        """A failed journey and its failed or rejected step back to work, together, or neither."""
        sealed = seal_json(self._keys, override, column="journey_steps.override", row=f"{journey_id}/{step}")

        def op(c: sqlite3.Connection) -> bool:
            step_row = c.execute(
                "SELECT 1 FROM journey_steps WHERE journey_id = ? AND name = ? AND status IN ('failed', 'rejected')",
                (journey_id, step),
            ).fetchone()
            if step_row is None:
                return False
            cur = c.execute(
                "UPDATE journeys SET status = 'running', result = NULL, problem = NULL, within_visit = NULL, "
                "finished_at = NULL, updated_at = ? WHERE id = ? AND status = 'failed'",
                (_ts(at), journey_id),
            )
            if cur.rowcount != 1:
                return False
            c.execute(
                "UPDATE journey_steps SET status = 'pending', override = ?, problem = NULL, finished_at = NULL "
                "WHERE journey_id = ? AND name = ?",
                (sealed, journey_id, step),
            )
            if audit is not None:
                self._audit(c, (audit,))
            return True

        return await self._write(op)

    async def due_journeys(self, limit: int, *, idle_seconds: float) -> list[str]:
        """Running journeys with something to decide, unchanged for ``idle_seconds``, oldest first."""
        cutoff = _ts(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=idle_seconds))
        rows = await self._read(
            lambda c: c.execute(
                "SELECT id FROM journeys j WHERE status = 'running' AND updated_at <= ? AND ("
                "EXISTS (SELECT 1 FROM journey_steps s WHERE s.journey_id = j.id AND s.status = 'pending') OR "
                "NOT EXISTS (SELECT 1 FROM journey_steps s WHERE s.journey_id = j.id AND s.status = 'running')) "
                "ORDER BY updated_at LIMIT ?",
                (cutoff, limit),
            ).fetchall()
        )
        return [row[0] for row in rows]

    async def purge_journeys(self, older_than: float, *, limit: int = 500) -> int:
        """Null the personal data of up to ``limit`` journeys that ended before ``older_than``."""
        cutoff = _ts(dt.datetime.fromtimestamp(older_than, dt.UTC))

        def op(c: sqlite3.Connection) -> int:
            ids = c.execute(
                "SELECT id FROM journeys WHERE finished_at IS NOT NULL AND purged_at IS NULL AND finished_at < ? "
                "AND status != 'running' AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.request_id = journeys.id "
                "AND w.delivered_at IS NULL AND w.next_at < 1e12) ORDER BY finished_at LIMIT ?",
                (cutoff, limit),
            ).fetchall()
            purged_at = _ts(dt.datetime.now(dt.UTC))
            c.executemany(
                "UPDATE journeys SET envelope = 'null', result = NULL, purged_at = ? WHERE id = ?",
                [(purged_at, i) for (i,) in ids],
            )
            c.executemany("UPDATE journey_steps SET override = NULL WHERE journey_id = ?", ids)
            c.executemany("UPDATE webhooks SET body = '' WHERE request_id = ?", ids)
            return len(ids)

        return await self._write(op)

    async def journeys_within_visit(
        self, since: dt.datetime, until: dt.datetime, *, group_by: Sequence[str] = ("journey",)
    ) -> list[VisitFigures]:
        """Journeys finished in ``[since, until)`` by ``group_by``: how many, how many within their budget."""
        columns = group_columns(group_by)
        sql = (
            f"SELECT {columns}, count(*), sum(CASE WHEN within_visit THEN 1 ELSE 0 END) FROM journeys "  # noqa: S608 - checked names
            f"WHERE finished_at >= ? AND finished_at < ? GROUP BY {columns} ORDER BY {columns}"
        )
        rows = await self._read(lambda c: c.execute(sql, (_ts(since), _ts(until))).fetchall())
        n = len(group_by)
        return [VisitFigures(tuple(str(v) for v in row[:n]), int(row[n]), int(row[n + 1] or 0)) for row in rows]

    async def search_journeys(self, query: JourneyQuery) -> JourneyPage:
        """Journeys matching ``query``, newest first, as summaries."""
        statement, params = journey_search_sql(query, "sqlite")
        rows = await self._read(lambda c: c.execute(statement, params).fetchall())
        return journey_page_of([JourneySummary.from_row(row) for row in rows], query.limit)

    async def save_journey_rating(
        self, rating: JourneyRating, *, audit: AuditEvent | None = None
    ) -> JourneyRating | None:
        """Keep ``rating`` and its ``audit`` entry in one transaction, or return the journey's earlier rating."""
        params = journey_rating_params(rating, _ts(rating.rated_at))

        def op(c: sqlite3.Connection) -> JourneyRating | None:
            if c.execute(_INSERT_JOURNEY_RATING, params).rowcount == 1:
                if audit is not None:
                    self._audit(c, (audit,))
                return None
            return journey_rating_from_row(c.execute(_SELECT_JOURNEY_RATING, (rating.journey_id,)).fetchone())

        return await self._write(op)
