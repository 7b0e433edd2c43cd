"""Journeys in the PostgreSQL store (:mod:`gateway.store._journeys`): the methods :class:`PostgresStore` inherits,
and the hooks its insert and finish transactions call.

Every change is one conditional ``UPDATE`` (``WHERE status = ...``) in a READ COMMITTED transaction: of two
replicas changing the same journey or step at once, the second finds the row changed and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
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
from ._port import AuditEntry, AuditEvent, IdempotencyMismatch, NewWebhook, StoreError
from ._reports import (
    INSERT_JOURNEY_RATING_SQL,
    SELECT_JOURNEY_RATING_SQL,
    JourneyRating,
    journey_rating_from_row,
    journey_rating_params,
    sql,
)
from ._schema import PgConnection
from ._sealing import KeyRing, open_json, seal_json

__all__ = ["PostgresJourneys", "step_finished", "step_started"]

_INSERT_JOURNEY_RATING = sql(INSERT_JOURNEY_RATING_SQL, "$")
_SELECT_JOURNEY_RATING = sql(SELECT_JOURNEY_RATING_SQL, "$")


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def step_started(c: PgConnection, link: StepLink, request_id: str, at: dt.datetime) -> None:
    """Inside the insert of ``request_id``: its step goes ``pending`` -> ``running``, else :class:`StepTaken`."""
    tag = await c.execute(
        "UPDATE journey_steps SET status = 'running', request_id = $1, run = $2, started_at = $3, finished_at = NULL, "
        "problem = NULL, skipped_because = NULL WHERE journey_id = $4 AND name = $5 AND status = 'pending' "
        "AND run = $6",
        request_id, link.run, at, link.journey_id, link.step, link.run - 1,
    )  # fmt: skip
    if _count(tag) != 1:
        raise StepTaken(f"step {link.step} of {link.journey_id} is not pending at run {link.run - 1}")


async def step_finished(c: PgConnection, request_id: str, status: RequestStatus, at: dt.datetime) -> None:
    """Inside the finish of ``request_id``: the step it runs as takes its final status."""
    step_status = STEP_STATUS.get(status)
    if step_status is None:
        return
    journey_id = await c.fetchval(
        "UPDATE journey_steps SET status = $1, finished_at = $2 WHERE request_id = $3 AND status = 'running' "
        "RETURNING journey_id",
        step_status, at, request_id,
    )  # fmt: skip
    if journey_id is not None:
        await c.execute("UPDATE journeys SET updated_at = $1 WHERE id = $2", at, journey_id)


class PostgresJourneys:
    """The :class:`~gateway.store._journeys.JourneyStore` methods of :class:`~gateway.store.PostgresStore`."""

    if TYPE_CHECKING:
        _keys: KeyRing | None

        @property
        def _db(self) -> asyncpg.Pool: ...

        @staticmethod
        async def _audit(c: PgConnection, events: Sequence[AuditEvent]) -> list[AuditEntry]: ...

    async def insert_journey(
        self, journey: NewJourney, *, idempotency: tuple[str, str] | None = None, audit: AuditEvent | None = None
    ) -> str | None:
        """Store the journey ``running`` and its steps ``pending``, or find the one its key names."""
        j = journey
        key, fingerprint = idempotency if idempotency is not None else (None, None)
        for _ in range(3):
            try:
                async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
                    if key is not None and (found := await self._journey_key(c, j.client_id, key, fingerprint)):
                        return found
                    await c.execute(
                        "INSERT INTO journeys (id, journey, client_id, mpp_id, desk, operator, nik_masked, status, "
                        "envelope, trace_id, traceparent, visit_budget, idempotency_key, fingerprint, created_at, "
                        "updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,'running',$8,$9,$10,$11,$12,$13,$14,$14)",
                        j.id, j.journey, j.client_id, j.mpp_id, j.desk, j.operator, j.nik_masked,
                        seal_json(self._keys, j.envelope, column="journeys.envelope", row=j.id), j.trace_id,
                        j.traceparent, j.visit_budget, key, fingerprint, j.created_at,
                    )  # fmt: skip
                    await c.executemany(
                        "INSERT INTO journey_steps (journey_id, name, position, status) VALUES ($1,$2,$3,'pending')",
                        [(j.id, name, n) for n, name in enumerate(j.steps)],
                    )
                    if audit is not None:
                        await self._audit(c, (audit,))
                return None
            except asyncpg.UniqueViolationError:
                # Another replica stored the same key first: answer with its journey.
                if key is None:
                    raise
                async with self._db.acquire() as c:
                    if found := await self._journey_key(c, j.client_id, key, fingerprint):
                        return found
        raise StoreError("the journey's idempotency key kept changing hands")

    @staticmethod
    async def _journey_key(c: PgConnection, client_id: str, key: str, fingerprint: str | None) -> str | None:
        row = await c.fetchrow(
            "SELECT fingerprint, id FROM journeys WHERE client_id = $1 AND idempotency_key = $2", client_id, key
        )
        if row is None:
            return None
        if row["fingerprint"] != fingerprint:
            raise IdempotencyMismatch(row["id"])
        return str(row["id"])

    async def get_journey(self, journey_id: str) -> StoredJourney | None:
        """The journey with its steps, or ``None``."""
        async with self._db.acquire() as c:
            row = await c.fetchrow(f"SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = $1", journey_id)  # noqa: S608 - constant
            if row is None:
                return None
            steps = await c.fetch(
                f"SELECT {STEP_COLUMNS} FROM journey_steps WHERE journey_id = $1 ORDER BY position",  # noqa: S608 - constant
                journey_id,
            )
        id_ = row["id"]
        return StoredJourney(
            id=id_, journey=row["journey"], client_id=row["client_id"], mpp_id=row["mpp_id"], desk=row["desk"],
            operator=row["operator"], nik_masked=row["nik_masked"], status=JourneyStatus(row["status"]),
            envelope=open_json(self._keys, row["envelope"], column="journeys.envelope", row=id_) or {},
            result=open_json(self._keys, row["result"], column="journeys.result", row=id_),
            problem=orjson.loads(row["problem"]) if row["problem"] is not None else None,
            trace_id=row["trace_id"], traceparent=row["traceparent"], visit_budget=row["visit_budget"],
            within_visit=row["within_visit"], created_at=row["created_at"], updated_at=row["updated_at"],
            finished_at=row["finished_at"], steps=tuple(self._step(id_, s) for s in steps),
        )  # fmt: skip

    def _step(self, journey_id: str, row: asyncpg.Record) -> StoredJourneyStep:
        name = row["name"]
        return StoredJourneyStep(
            name=name, status=StepStatus(row["status"]), request_id=row["request_id"], run=row["run"],
            override=open_json(self._keys, row["override"], column="journey_steps.override",
                               row=f"{journey_id}/{name}"),
            problem=orjson.loads(row["problem"]) if row["problem"] is not None else None,
            skipped_because=row["skipped_because"], started_at=row["started_at"], finished_at=row["finished_at"],
        )  # fmt: skip

    async def skip_steps(self, journey_id: str, reasons: Mapping[str, str], *, at: dt.datetime) -> list[str]:
        """Mark the named pending steps skipped."""
        skipped = []
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            for name, reason in reasons.items():
                tag = await c.execute(
                    "UPDATE journey_steps SET status = 'skipped', skipped_because = $1, finished_at = $2 "
                    "WHERE journey_id = $3 AND name = $4 AND status = 'pending'",
                    reason, at, journey_id, name,
                )  # fmt: skip
                if _count(tag) == 1:
                    skipped.append(name)
            if skipped:
                await c.execute("UPDATE journeys SET updated_at = $1 WHERE id = $2", at, journey_id)
        return skipped

    async def fail_step(
        self, journey_id: str, step: str, *, run: int, problem: dict[str, Any], at: dt.datetime
    ) -> bool:
        """A pending step failed before it had a request."""
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            tag = await c.execute(
                "UPDATE journey_steps SET status = 'failed', run = $1, problem = $2, request_id = NULL, "
                "started_at = $3, finished_at = $3 WHERE journey_id = $4 AND name = $5 AND status = 'pending' "
                "AND run = $6",
                run, _json(problem), at, journey_id, step, run - 1,
            )  # fmt: skip
            if _count(tag) != 1:
                return False
            await c.execute("UPDATE journeys SET updated_at = $1 WHERE id = $2", at, journey_id)
        return True

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
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            updated = await c.fetchval(
                "UPDATE journeys SET status = $1, result = $2, problem = $3, updated_at = $4, finished_at = $4, "
                "within_visit = extract(epoch FROM $4 - created_at) <= visit_budget "
                "WHERE id = $5 AND status = 'running' RETURNING id",
                status, seal_json(self._keys, result, column="journeys.result", row=journey_id), _json(problem), at,
                journey_id,
            )  # fmt: skip
            if updated is None:
                return False
            if status is JourneyStatus.CANCELLED:
                await c.execute(
                    "UPDATE journey_steps SET status = 'cancelled', finished_at = $1 "
                    "WHERE journey_id = $2 AND status = 'pending'",
                    at, journey_id,
                )  # fmt: skip
            if webhook is not None:
                await c.execute(
                    "INSERT INTO webhooks (id, request_id, client_id, url, body, next_at) VALUES ($1,$2,$3,$4,$5,$6)",
                    webhook.id, journey_id, webhook.client_id, webhook.url,
                    seal_json(self._keys, webhook.body, column="webhooks.body", row=webhook.id), at.timestamp(),
                )  # fmt: skip
            if audit is not None:
                await self._audit(c, (audit,))
        return True

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
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            resumed = await c.fetchval(
                "UPDATE journeys SET status = 'running', result = NULL, problem = NULL, within_visit = NULL, "
                "finished_at = NULL, updated_at = $1 WHERE id = $2 AND status = 'failed' AND EXISTS (SELECT 1 FROM "
                "journey_steps WHERE journey_id = $2 AND name = $3 AND status IN ('failed', 'rejected')) RETURNING id",
                at, journey_id, step,
            )  # fmt: skip
            if resumed is None:
                return False
            await c.execute(
                "UPDATE journey_steps SET status = 'pending', override = $1, problem = NULL, finished_at = NULL "
                "WHERE journey_id = $2 AND name = $3",
                sealed, journey_id, step,
            )  # fmt: skip
            if audit is not None:
                await self._audit(c, (audit,))
        return True

    async def due_journeys(self, limit: int, *, idle_seconds: float) -> list[str]:
        """Running journeys with something to decide, unchanged for ``idle_seconds``, oldest first."""
        rows = await self._db.fetch(
            "SELECT id FROM journeys j WHERE status = 'running' "
            "AND updated_at <= statement_timestamp() - make_interval(secs => $1) AND ("
            "EXISTS (SELECT 1 FROM journey_steps s WHERE s.journey_id = j.id AND s.status = 'pending') OR "
            "NOT EXISTS (SELECT 1 FROM journey_steps s WHERE s.journey_id = j.id AND s.status = 'running')) "
            "ORDER BY updated_at LIMIT $2",
            idle_seconds, limit,
        )  # fmt: skip
        return [row["id"] for row in rows]

    async def purge_journeys(self, older_than: float, *, limit: int = 500) -> int:
        """Null the personal data of up to ``limit`` journeys that ended before ``older_than``; rows another
        replica is purging are skipped."""
        cutoff = dt.datetime.fromtimestamp(older_than, dt.UTC)
        async with self._db.acquire() as c, c.transaction():
            rows = await c.fetch(
                "WITH due AS (SELECT id AS due_id FROM journeys j WHERE finished_at IS NOT NULL AND purged_at IS NULL "
                "AND finished_at < $1 AND status != 'running' AND NOT EXISTS (SELECT 1 FROM webhooks w "
                "WHERE w.request_id = j.id AND w.delivered_at IS NULL AND w.next_at < 1e12) "
                "ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
                "UPDATE journeys SET envelope = 'null', result = NULL, purged_at = $3 "
                "FROM due WHERE id = due.due_id RETURNING id",
                cutoff, limit, dt.datetime.now(dt.UTC),
            )  # fmt: skip
            if rows:
                ids = [r["id"] for r in rows]
                await c.execute("UPDATE journey_steps SET override = NULL WHERE journey_id = ANY($1::text[])", ids)
                await c.execute("UPDATE webhooks SET body = '' WHERE request_id = ANY($1::text[])", ids)
        return len(rows)

    async def journeys_within_visit(
        self, since: dt.datetime, until: dt.datetime, *, group_by: Sequence[str] = ("journey",)
    ) -> list[VisitFigures]:
        """Journeys finished in ``[since, until)`` by ``group_by``: how many, how many within their budget."""
        columns = group_columns(group_by)
        rows = await self._db.fetch(
            f"SELECT {columns}, count(*), count(*) FILTER (WHERE within_visit) FROM journeys "  # noqa: S608 - checked names
            f"WHERE finished_at >= $1 AND finished_at < $2 GROUP BY {columns} ORDER BY {columns}",
            since, until,
        )  # fmt: skip
        n = len(group_by)
        return [VisitFigures(tuple(str(v) for v in row[:n]), int(row[n]), int(row[n + 1] or 0)) for row in rows]

    async def search_journeys(self, query: JourneyQuery) -> JourneyPage:
        """Journeys matching ``query``, newest first, as summaries."""
        statement, params = journey_search_sql(query, "postgres")
        rows = await self._db.fetch(statement, *params)
        return journey_page_of([JourneySummary.from_row(tuple(row)) for row in rows], query.limit)

    async def save_journey_rating(
        self, rating: JourneyRating, *, audit: AuditEvent | None = None
    ) -> JourneyRating | None:
        """Keep ``rating`` and its ``audit`` entry in one transaction, or return the journey's earlier rating (of
        two replicas rating one journey at once, one keeps its rating and the other gets it back)."""
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            tag = await c.execute(_INSERT_JOURNEY_RATING, *journey_rating_params(rating, rating.rated_at))
            if _count(tag) == 1:
                if audit is not None:
                    await self._audit(c, (audit,))
                return None
            row = await c.fetchrow(_SELECT_JOURNEY_RATING, rating.journey_id)
        return journey_rating_from_row(tuple(row)) if row is not None else None
