"""The PostgreSQL store, for an MPP that runs several gateway replicas on one database.

It keeps the contract of :class:`gateway.SqliteStore` (one suite, ``tests/store``, runs against both). What
differs is what several processes on several hosts need:

- A claim is one ``UPDATE`` of a row selected ``FOR UPDATE SKIP LOCKED``: of two replicas claiming the same
  request one wins, and the other neither waits on the winner's row lock nor runs the request.
- Lease times are the database's clock, not the replica's: skew between hosts cannot expire a live lease early.
- ``due()`` leaves a request that was just accepted to the replica that accepted it for ``handover_grace``
  seconds: that replica runs it at once and answers its ``Prefer: wait`` caller; the others sweep only what a
  dead or busy replica left behind.
- ``due_webhooks()`` reserves the rows it returns for ``webhook_lease`` seconds, so one replica sends each.
- The schema is never changed by a serving replica: ``mpp-gateway db upgrade`` (``_schema``) applies the
  versioned SQL in ``migrations/postgres`` once per deployment, and :meth:`PostgresStore.open` refuses a schema
  that is behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
import orjson

from contracts import AttemptOutcome, RequestStatus, ServiceKind

from ._audit_chain import (
    AUDIT_COLUMNS,
    CHECKPOINT_COLUMNS,
    GENESIS,
    audit_checkpoint,
    audit_entry,
    audit_row,
    chain_events,
)
from ._documents import DOCUMENT_COLUMN, DOCUMENT_COLUMNS, stored_document
from ._health import WriteHealth
from ._ids import new_document_id
from ._journeys import StepLink
from ._journeys_postgres import PostgresJourneys, step_finished, step_started
from ._ops import FAILURES_SQL, QUEUE_SQL, QueueFigures, failures_from_rows, queue_from_rows
from ._port import (
    AuditCheckpoint,
    AuditEntry,
    AuditEvent,
    IdempotencyMismatch,
    NewRequest,
    NewWebhook,
    SchemaOutdated,
    StoredAttempt,
    StoredDocument,
    StoredRequest,
    StoreError,
    StoreUnavailable,
    Webhook,
    check_transition,
)
from ._reports import (
    INSERT_RATING_SQL,
    INSERT_TRANSITION_SQL,
    JOURNEY_RATINGS_SQL,
    JOURNEY_VISITS_SQL,
    RATINGS_SQL,
    REQUESTS_SQL,
    SELECT_RATING_SQL,
    TRANSITIONS_SQL,
    CircuitTransition,
    Rating,
    ReportQuery,
    ServiceLevelBuilder,
    ServiceLevelRow,
    rating_from_row,
    rating_params,
    sql,
    transition_from_row,
)
from ._schema import DRIVER_ERRORS, PgConnection, postgres_schema, safe_dsn
from ._sealing import KeyRing, open_json, open_json_text, open_text, seal_json, seal_text
from ._search import (
    RequestPage,
    RequestQuery,
    attempts_sql,
    counts_by_status,
    page_of,
    search_sql,
    status_counts_sql,
)

__all__ = ["PostgresStore"]

_COLUMNS = (
    "id, client_id, service, agency, kind, status, mpp_id, desk, operator, nik_masked, envelope, result, "
    "agency_reference, problem, trace_id, traceparent, created_at, updated_at, finished_at, deadline_at, "
    "lease_owner, lease_expires, attempts, not_before, needs_reconcile, purged_at"
)
#: Unix time by the database's clock, fixed for the whole statement.
_DB_NOW = "extract(epoch FROM statement_timestamp())::float8"
#: Key of the transaction-level advisory lock that makes appends to the audit chain take turns.
_AUDIT_LOCK = 7_303_110_002
#: What the server answers when it cannot take writes now: out of disk space or another resource (class 53), or a
#: read-only transaction (a standby, ``default_transaction_read_only``).
_UNWRITABLE = (asyncpg.exceptions.InsufficientResourcesError, asyncpg.exceptions.ReadOnlySQLTransactionError)

P = ParamSpec("P")
R = TypeVar("R")


def _writes(
    method: Callable[Concatenate[PostgresStore, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[PostgresStore, P], Coroutine[Any, Any, R]]:
    """A write: the server's refusal to take writes becomes :class:`StoreUnavailable`, and the outcome is kept
    for readiness (:meth:`PostgresStore.ping`)."""

    @functools.wraps(method)
    async def write(self: PostgresStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = await method(self, *args, **kwargs)
        except _UNWRITABLE as exc:
            self._health.failed(type(exc).__name__)
            raise StoreUnavailable(f"PostgreSQL cannot take writes: {type(exc).__name__} ({exc.sqlstate})") from exc
        self._health.succeeded()
        return result

    return write


_REQUESTS = sql(REQUESTS_SQL, "$", problem_type="problem->>'type'")
_RATINGS = sql(RATINGS_SQL, "$")
_JOURNEY_VISITS = sql(JOURNEY_VISITS_SQL, "$")
_JOURNEY_RATINGS = sql(JOURNEY_RATINGS_SQL, "$")
_TRANSITIONS = sql(TRANSITIONS_SQL, "$")
_INSERT_TRANSITION = sql(INSERT_TRANSITION_SQL, "$")
_INSERT_RATING = sql(INSERT_RATING_SQL, "$")
_SELECT_RATING = sql(SELECT_RATING_SQL, "$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``UPDATE 1``."""
    return int(status.rsplit(" ", 1)[-1])


def _request(row: asyncpg.Record, attempts: tuple[StoredAttempt, ...], keys: KeyRing | None) -> StoredRequest:
    id_ = row["id"]
    return StoredRequest(
        id=row["id"],
        client_id=row["client_id"],
        service=row["service"],
        agency=row["agency"],
        kind=ServiceKind(row["kind"]),
        status=RequestStatus(row["status"]),
        mpp_id=row["mpp_id"],
        desk=row["desk"],
        operator=row["operator"],
        nik_masked=row["nik_masked"],
        envelope=open_json(keys, row["envelope"], column="requests.envelope", row=id_) or {},
        result=open_json(keys, row["result"], column="requests.result", row=id_),
        agency_reference=open_text(keys, row["agency_reference"], column="requests.agency_reference", row=id_),
        problem=orjson.loads(row["problem"]) if row["problem"] is not None else None,
        trace_id=row["trace_id"],
        traceparent=row["traceparent"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        deadline_at=row["deadline_at"],
        lease_owner=row["lease_owner"],
        lease_expires=row["lease_expires"],
        attempt_count=row["attempts"],
        attempts=attempts,
        not_before=row["not_before"],
        needs_reconcile=row["needs_reconcile"],
        purged_at=row["purged_at"],
    )


async def _insert_attempt(c: PgConnection, request_id: str, a: StoredAttempt) -> None:
    await c.execute(
        "INSERT INTO attempts (request_id, number, started_at, finished_at, outcome, detail) "
        "VALUES ($1,$2,$3,$4,$5,$6)",
        request_id, a.number, a.started_at, a.finished_at, a.outcome, a.detail,
    )  # fmt: skip


async def _chain(c: PgConnection, events: Sequence[AuditEvent]) -> list[AuditEntry]:
    """Chain ``events`` after the audit log's head inside ``c``'s transaction, which must be READ COMMITTED.

    The transaction-level advisory lock makes replicas take turns, and READ COMMITTED lets the head be read after
    the lock is granted, so each append sees the one before it. Taken last in a transaction (after its row writes),
    it is held only for the head's read, the insert and the commit, and never while waiting on another lock.
    """
    await c.execute("SELECT pg_advisory_xact_lock($1)", _AUDIT_LOCK)
    head = await c.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    entries = chain_events(events, head["seq"], head["hash"]) if head else chain_events(events, 0, GENESIS)
    await c.executemany(
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) "  # noqa: S608 - constant column list
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
        [audit_row(entry) for entry in entries],
    )
    return entries


class _KeyTaken(Exception):
    """Another transaction stored the same idempotency key first."""


class PostgresStore(PostgresJourneys):
    """Requests, attempts, the work queue and webhooks in PostgreSQL, through an asyncpg connection pool."""

    _audit = staticmethod(_chain)
    # A journey's writes report a database that cannot take writes like every other write (StoreUnavailable).
    insert_journey = _writes(PostgresJourneys.insert_journey)
    skip_steps = _writes(PostgresJourneys.skip_steps)
    fail_step = _writes(PostgresJourneys.fail_step)
    finish_journey = _writes(PostgresJourneys.finish_journey)
    resume_journey = _writes(PostgresJourneys.resume_journey)
    purge_journeys = _writes(PostgresJourneys.purge_journeys)
    save_journey_rating = _writes(PostgresJourneys.save_journey_rating)

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        handover_grace: float = 2.0,
        webhook_lease: float = 60.0,
        keys: KeyRing | None = None,
    ) -> None:
        """``keys`` seals personal data at rest (the gateway always passes its ring); without, values are plain."""
        self._dsn = dsn
        self._pool_size = pool_size
        self._handover_grace = handover_grace
        self._webhook_lease = webhook_lease
        self._pool: asyncpg.Pool | None = None
        self._keys = keys
        self._health = WriteHealth()

    def __repr__(self) -> str:
        return f"PostgresStore({safe_dsn(self._dsn)!r})"

    async def open(self) -> None:
        """Connect the pool and check the schema; :class:`SchemaOutdated` when migrations are pending."""
        try:
            pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._pool_size)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot reach PostgreSQL at {safe_dsn(self._dsn)}: {type(exc).__name__}") from exc
        try:
            async with pool.acquire() as c:
                status = await postgres_schema(c)
        except BaseException:
            await pool.close()
            raise
        if status.pending:
            await pool.close()
            raise SchemaOutdated(
                f"the PostgreSQL schema at {safe_dsn(self._dsn)} is at version {status.current}, this gateway needs "
                f"{max(status.available)}: run `mpp-gateway db upgrade` first"
            )
        self._pool = pool

    async def aclose(self) -> None:
        """Close the pool, waiting for queries under way."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store is not open")
        return self._pool

    async def ping(self) -> bool:
        """True when the database answers within two seconds and no write failed for want of space or write access
        lately."""
        if self._pool is None or not self._health.writable:
            return False
        try:
            async with self._pool.acquire(timeout=2) as c:
                await c.fetchval("SELECT 1", timeout=2)
        except (*DRIVER_ERRORS, TimeoutError):
            return False
        return True

    @_writes
    async def insert(
        self,
        request: NewRequest,
        *,
        idempotency: tuple[str, str] | None = None,
        lease: tuple[str, float] | None = None,
        audit: AuditEvent | None = None,
        step: StepLink | None = None,
        durable: bool = True,
    ) -> str | None:
        """Persist a new request (``accepted``, or ``in_progress`` under ``lease``) with its ``audit`` entry, or
        find the one an idempotency key already names; a journey ``step`` starts under it in the same transaction.
        ``durable=False`` commits without waiting for the WAL flush (see :meth:`RequestStore.insert`)."""
        r = request
        owner, expires = (lease[0], time.time() + lease[1]) if lease else (None, None)
        params = (
            r.id, r.client_id, r.service, r.agency, r.kind, "in_progress" if lease else "accepted", r.mpp_id,
            r.desk, r.operator, r.nik_masked,
            seal_json(self._keys, r.envelope, column="requests.envelope", row=r.id), r.trace_id, r.traceparent,
            r.created_at,
            r.created_at, r.deadline_at, owner, expires,
        )  # fmt: skip
        # Two replicas may get the same key at once: the key's insert waits for the other transaction and, if
        # that one committed, this one rolls back its request and answers with the other's.
        for _ in range(3):
            try:
                async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
                    if not durable:  # a later synchronous commit flushes the WAL past this one too
                        await c.execute("SET LOCAL synchronous_commit TO OFF")
                    if idempotency is not None and (found := await self._key(c, r.client_id, idempotency)):
                        return found
                    await c.execute(
                        "INSERT INTO requests (id, client_id, service, agency, kind, status, mpp_id, desk, operator, "
                        "nik_masked, envelope, trace_id, traceparent, created_at, updated_at, deadline_at, "
                        "lease_owner, lease_expires) "
                        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
                        *params,
                    )
                    if idempotency is not None:
                        stored = await c.fetchval(
                            "INSERT INTO idempotency_keys (client_id, key, fingerprint, request_id, created_at) "
                            "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (client_id, key) DO NOTHING RETURNING request_id",
                            r.client_id, idempotency[0], idempotency[1], r.id, time.time(),
                        )  # fmt: skip
                        if stored is None:
                            raise _KeyTaken
                    if step is not None:
                        await step_started(c, step, r.id, r.created_at)
                    events = tuple(e for e in (audit, step.audit if step else None) if e is not None)
                    if events:
                        await _chain(c, events)
                return None
            except _KeyTaken:
                async with self._db.acquire() as c:
                    if idempotency is not None and (found := await self._key(c, r.client_id, idempotency)):
                        return found
        raise StoreError("the idempotency key kept changing hands")  # purged between tries, three times over

    @staticmethod
    async def _key(c: PgConnection, client_id: str, idempotency: tuple[str, str]) -> str | None:
        row = await c.fetchrow(
            "SELECT fingerprint, request_id FROM idempotency_keys WHERE client_id = $1 AND key = $2",
            client_id, idempotency[0],
        )  # fmt: skip
        if row is None:
            return None
        if row["fingerprint"] != idempotency[1]:
            raise IdempotencyMismatch(row["request_id"])
        return str(row["request_id"])

    async def get(self, request_id: str, *, with_attempts: bool = True) -> StoredRequest | None:
        """The request with its attempts, or ``None``."""
        async with self._db.acquire() as c:
            row = await c.fetchrow(f"SELECT {_COLUMNS} FROM requests WHERE id = $1", request_id)  # noqa: S608 - constant column list
            if row is None:
                return None
            attempts: tuple[StoredAttempt, ...] = ()
            if with_attempts:
                rows = await c.fetch(
                    "SELECT number, started_at, finished_at, outcome, detail FROM attempts "
                    "WHERE request_id = $1 ORDER BY number",
                    request_id,
                )
                attempts = tuple(StoredAttempt(n, s, f, AttemptOutcome(o), d) for n, s, f, o, d in rows)
        return _request(row, attempts, self._keys)

    @_writes
    async def claim(self, request_id: str, owner: str, lease_seconds: float) -> StoredRequest | None:
        """Lease the request to ``owner`` if it is accepted or its lease expired; a row another replica is
        claiming right now is skipped, not waited for."""
        # Taking over a submission from a dead owner: it may have reached the agency unrecorded.
        row = await self._db.fetchrow(
            f"WITH target AS (SELECT id AS claim_id FROM requests WHERE id = $1 "  # noqa: S608 - constant SQL
            f"AND (not_before IS NULL OR not_before <= {_DB_NOW}) "
            f"AND (status = 'accepted' OR (status = 'in_progress' AND lease_expires < {_DB_NOW})) "
            f"FOR UPDATE SKIP LOCKED) "
            f"UPDATE requests SET status = 'in_progress', lease_owner = $2, lease_expires = {_DB_NOW} + $3, "
            f"updated_at = $4, needs_reconcile = needs_reconcile OR (status = 'in_progress' AND kind = 'submission') "
            f"FROM target WHERE id = target.claim_id RETURNING {_COLUMNS}",
            request_id, owner, lease_seconds, _now(),
        )  # fmt: skip
        return _request(row, (), self._keys) if row is not None else None

    @_writes
    async def make_durable(self, request_id: str) -> None:
        """Return once the request is on disk: a synchronous commit of a write to its row flushes the WAL past the
        insert committed without waiting."""
        await self._db.execute("UPDATE requests SET updated_at = updated_at WHERE id = $1", request_id)

    @_writes
    async def renew(self, request_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease ``owner`` holds."""
        status = await self._db.execute(
            f"UPDATE requests SET lease_expires = {_DB_NOW} + $1 "  # noqa: S608 - constant SQL
            "WHERE id = $2 AND lease_owner = $3 AND status = 'in_progress'",
            lease_seconds, request_id, owner,
        )  # fmt: skip
        return _count(status) == 1

    async def due(self, limit: int) -> list[str]:
        """Accepted requests past their handover grace and ``not_before``, and expired leases; oldest first."""
        rows = await self._db.fetch(
            f"SELECT id FROM requests WHERE status IN ('accepted', 'in_progress') AND ("  # noqa: S608 - constant SQL
            f"(status = 'accepted' AND (not_before IS NULL OR not_before <= {_DB_NOW}) "
            f"AND updated_at <= statement_timestamp() - make_interval(secs => $1)) "
            f"OR (status = 'in_progress' AND lease_expires < {_DB_NOW})) ORDER BY created_at LIMIT $2",
            self._handover_grace, limit,
        )  # fmt: skip
        return [row["id"] for row in rows]

    @_writes
    async def record_attempt(self, request_id: str, attempt: StoredAttempt) -> None:
        """Record an attempt that is not the last."""
        async with self._db.acquire() as c, c.transaction():
            await _insert_attempt(c, request_id, attempt)
            await c.execute(
                "UPDATE requests SET attempts = attempts + 1, updated_at = $1 WHERE id = $2", _now(), request_id
            )

    @_writes
    async def finish(
        self,
        request_id: str,
        owner: str,
        *,
        status: RequestStatus,
        attempt: StoredAttempt | None,
        result: dict[str, Any] | None = None,
        agency_reference: str | None = None,
        problem: dict[str, Any] | None = None,
        webhook: NewWebhook | None = None,
        at: dt.datetime | None = None,
        audit: AuditEvent | None = None,
    ) -> bool:
        """Record the last attempt, the new status, its webhook and its ``audit`` entry in one transaction, if
        ``owner`` holds the lease."""
        now = at or _now()
        check_transition(RequestStatus.IN_PROGRESS, status)
        final = status.final
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            tag = await c.execute(
                "UPDATE requests SET status = $1, result = $2, agency_reference = $3, problem = $4, updated_at = $5, "
                "finished_at = $6, lease_owner = NULL, lease_expires = NULL, attempts = attempts + $7 "
                "WHERE id = $8 AND lease_owner = $9 AND status = 'in_progress'",
                status, seal_json(self._keys, result, column="requests.result", row=request_id),
                seal_text(self._keys, agency_reference, column="requests.agency_reference", row=request_id),
                _json(problem), now, now if final else None,
                1 if attempt else 0, request_id, owner,
            )  # fmt: skip
            if _count(tag) != 1:
                return False
            await step_finished(c, request_id, status, now)
            if attempt is not None:
                await _insert_attempt(c, request_id, attempt)
            if webhook is not None:
                await c.execute(
                    "INSERT INTO webhooks (id, request_id, client_id, url, body, next_at) VALUES ($1,$2,$3,$4,$5,$6)",
                    webhook.id, request_id, webhook.client_id, webhook.url,
                    seal_json(self._keys, webhook.body, column="webhooks.body", row=webhook.id), time.time(),
                )  # fmt: skip
            if audit is not None:
                await _chain(c, (audit,))
        return True

    @_writes
    async def release(
        self,
        request_id: str,
        owner: str,
        *,
        not_before: float | None = None,
        needs_reconcile: bool | None = None,
        attempt: StoredAttempt | None = None,
    ) -> None:
        """Return the request to the queue, claimable from ``not_before`` on."""
        async with self._db.acquire() as c, c.transaction():
            tag = await c.execute(
                "UPDATE requests SET status = 'accepted', lease_owner = NULL, lease_expires = NULL, updated_at = $1, "
                "not_before = $2, needs_reconcile = COALESCE($3, needs_reconcile), attempts = attempts + $4 "
                "WHERE id = $5 AND lease_owner = $6 AND status = 'in_progress'",
                _now(), not_before, needs_reconcile, 1 if attempt else 0, request_id, owner,
            )  # fmt: skip
            if _count(tag) == 1 and attempt is not None:
                await _insert_attempt(c, request_id, attempt)

    async def queue_stats(self) -> tuple[int, float | None]:
        """Requests not yet final (waiting_agency aside) and the acceptance time of the oldest."""
        row = await self._db.fetchrow(
            "SELECT count(*), extract(epoch FROM min(created_at))::float8 FROM requests "
            "WHERE status IN ('accepted', 'in_progress')"
        )
        if row is None:  # pragma: no cover - an aggregate always returns a row
            return 0, None
        return int(row[0]), row[1]

    async def queue_by_agency(self) -> list[QueueFigures]:
        """The queue per agency (:mod:`gateway.store._ops`)."""
        return queue_from_rows(await self._db.fetch(QUEUE_SQL["postgres"], time.time()))

    async def failures_since(self, since: dt.datetime) -> dict[str, int]:
        """Failed requests since ``since`` by problem slug (:mod:`gateway.store._ops`)."""
        return failures_from_rows(await self._db.fetch(FAILURES_SQL["postgres"], since))

    async def search(self, query: RequestQuery) -> RequestPage:
        """Requests matching ``query``, newest first, with their attempts (:mod:`gateway.store._search`)."""
        sql, params = search_sql(query, "postgres")
        async with self._db.acquire() as c:
            rows = await c.fetch(sql, *params)
            attempts: dict[str, list[StoredAttempt]] = {}
            if ids := [row["id"] for row in rows[: query.limit]]:
                of_page, of_ids = attempts_sql(ids, "postgres")
                for request_id, n, s, f, o, d in await c.fetch(of_page, *of_ids):
                    attempts.setdefault(request_id, []).append(StoredAttempt(n, s, f, AttemptOutcome(o), d))
        found = [_request(row, tuple(attempts.get(row["id"], ())), self._keys) for row in rows]
        return page_of(found, query.limit)

    async def requests_by_status(self, since: dt.datetime) -> dict[str, int]:
        """Requests created since ``since`` by status (:mod:`gateway.store._search`)."""
        sql, params = status_counts_sql(since, "postgres")
        return counts_by_status(tuple(row) for row in await self._db.fetch(sql, *params))

    @_writes
    async def purge_idempotency_keys(self, older_than: float) -> int:
        """Forget idempotency keys created before ``older_than``."""
        return _count(await self._db.execute("DELETE FROM idempotency_keys WHERE created_at < $1", older_than))

    @_writes
    async def purge_personal_data(self, older_than: float, *, limit: int = 500) -> int:
        """Null the envelope, result and reference of up to ``limit`` final requests finished before ``older_than``
        (and blank their finished webhooks' bodies); status, counter, attempts and timestamps stay. Rows another
        replica is purging are skipped, not waited for."""
        cutoff = dt.datetime.fromtimestamp(older_than, dt.UTC)
        async with self._db.acquire() as c, c.transaction():
            # A delivery the sender gave up on waits at next_at 1e12: only one still being tried holds a purge back.
            rows = await c.fetch(
                "WITH due AS (SELECT id AS due_id FROM requests r WHERE finished_at IS NOT NULL AND purged_at IS NULL "
                "AND finished_at < $1 AND status IN ('completed', 'rejected', 'failed') AND NOT EXISTS (SELECT 1 "
                "FROM webhooks w WHERE w.request_id = r.id AND w.delivered_at IS NULL AND w.next_at < 1e12) "
                "ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
                "UPDATE requests SET envelope = 'null', result = NULL, agency_reference = NULL, purged_at = $3 "
                "FROM due WHERE id = due.due_id RETURNING id",
                cutoff, limit, _now(),
            )  # fmt: skip
            if rows:
                ids = [r["id"] for r in rows]
                await c.execute("UPDATE webhooks SET body = '' WHERE request_id = ANY($1::text[])", ids)
        return len(rows)

    @_writes
    async def record_circuit(self, transitions: Sequence[CircuitTransition]) -> None:
        """Keep circuit states as replicas saw them."""
        if transitions:
            await self._db.executemany(_INSERT_TRANSITION, [(t.agency, t.replica, t.at, t.state) for t in transitions])

    @_writes
    async def save_rating(self, rating: Rating, *, audit: AuditEvent | None = None) -> Rating | None:
        """Keep ``rating`` and its ``audit`` entry in one transaction, or return the request's earlier rating (of
        two replicas rating one request at once, one keeps its rating and the other gets it back)."""
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            tag = await c.execute(_INSERT_RATING, *rating_params(rating, rating.rated_at))
            if _count(tag) == 1:
                if audit is not None:
                    await _chain(c, (audit,))
                return None
            row = await c.fetchrow(_SELECT_RATING, rating.request_id)
        return rating_from_row(tuple(row)) if row is not None else None

    async def service_levels(self, query: ReportQuery, *, now: dt.datetime | None = None) -> list[ServiceLevelRow]:
        """The report's rows from one snapshot of the window's rows, read through cursors (memory stays bounded)."""
        builder = ServiceLevelBuilder(query, now=now or _now())
        start, end = query.start, query.end
        async with self._db.acquire() as c, c.transaction(isolation="repeatable_read", readonly=True):
            async for created_at, agency, service, mpp_id, *scores in c.cursor(_RATINGS, start, end, prefetch=2000):
                builder.add_rating(created_at, agency, service, mpp_id, scores)
            async for row in c.cursor(_JOURNEY_VISITS, start, end, prefetch=2000):
                builder.add_journey_step(*row)
            async for row in c.cursor(_JOURNEY_RATINGS, start, end, prefetch=2000):
                builder.add_journey_rating(*row)
            transitions = await c.fetch(_TRANSITIONS, start, end, start)
            builder.add_transitions(transition_from_row(tuple(r)) for r in transitions)
            read = 0
            async for row in c.cursor(_REQUESTS, start, end, prefetch=2000):
                builder.add_request(*row)
                read += 1
                if read % 5000 == 0:
                    await asyncio.sleep(0)  # a long window does not hold the event loop
        return builder.rows()

    @_writes
    async def due_webhooks(self, limit: int) -> list[Webhook]:
        """Undelivered webhooks whose next try is due, oldest first, each reserved for this caller for a while."""
        now = time.time()
        rows = await self._db.fetch(
            "WITH due AS (SELECT id AS due_id, next_at AS was FROM webhooks WHERE delivered_at IS NULL "
            "AND next_at <= $1 ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
            "UPDATE webhooks SET next_at = $3 FROM due WHERE id = due.due_id "
            "RETURNING id, request_id, client_id, url, body, attempts, due.was",
            now, limit, now + self._webhook_lease,
        )  # fmt: skip
        ordered = sorted(rows, key=lambda row: row["was"])
        return [
            Webhook(r["id"], r["request_id"], r["client_id"], r["url"],
                    open_json_text(self._keys, r["body"], column="webhooks.body", row=r["id"]), r["attempts"])
            for r in ordered
        ]  # fmt: skip

    @_writes
    async def webhook_tried(self, webhook_id: str, *, delivered: bool, next_at: float, error: str | None) -> None:
        """Record one delivery try."""
        await self._db.execute(
            "UPDATE webhooks SET attempts = attempts + 1, next_at = $1, last_error = $2, "
            "delivered_at = CASE WHEN $3 THEN $4::float8 ELSE NULL END WHERE id = $5",
            next_at, error, delivered, time.time(), webhook_id,
        )  # fmt: skip

    @_writes
    async def save_document(
        self, agency: str, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime
    ) -> None:
        """Append ``document`` to the history of ``(agency, kind, key)``, sealed."""
        if received_at.tzinfo is None:
            raise ValueError("received_at must carry its time zone")
        doc_id = new_document_id()
        try:
            await self._db.execute(
                "INSERT INTO agency_documents (id, agency, kind, key, document, received_at) "
                "VALUES ($1,$2,$3,$4,$5,$6)",
                doc_id, agency, kind, key, seal_json(self._keys, document, column=DOCUMENT_COLUMN, row=doc_id),
                received_at,
            )  # fmt: skip
        except _UNWRITABLE:
            raise
        except DRIVER_ERRORS as exc:
            raise StoreError(f"the {agency} {kind} document could not be stored") from exc

    async def latest_document(self, agency: str, kind: str, key: str) -> StoredDocument | None:
        """The document of ``(agency, kind, key)`` saved last, or ``None``."""
        row = await self._db.fetchrow(
            f"SELECT {DOCUMENT_COLUMNS} FROM agency_documents WHERE agency = $1 AND kind = $2 AND key = $3 "  # noqa: S608 - constant
            "ORDER BY seq DESC LIMIT 1",
            agency, kind, key,
        )  # fmt: skip
        return None if row is None else self._document(row)

    async def document_history(self, agency: str, kind: str, key: str) -> list[StoredDocument]:
        """Every kept document of ``(agency, kind, key)``, in the order saved."""
        rows = await self._db.fetch(
            f"SELECT {DOCUMENT_COLUMNS} FROM agency_documents WHERE agency = $1 AND kind = $2 AND key = $3 "  # noqa: S608 - constant
            "ORDER BY seq",
            agency, kind, key,
        )  # fmt: skip
        return [self._document(row) for row in rows]

    def _document(self, row: asyncpg.Record) -> StoredDocument:
        *fields, received_at = tuple(row)
        return stored_document(self._keys, *fields, received_at=received_at)

    @_writes
    async def purge_documents(self, older_than: float, *, limit: int = 500) -> int:
        """Delete up to ``limit`` documents received before ``older_than``, oldest first; rows another replica is
        purging are skipped, not waited for."""
        return _count(
            await self._db.execute(
                "DELETE FROM agency_documents WHERE seq IN (SELECT seq FROM agency_documents WHERE received_at < $1 "
                "ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                dt.datetime.fromtimestamp(older_than, dt.UTC), limit,
            )
        )  # fmt: skip

    @_writes
    async def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Chain ``events`` after the head while holding the chain's advisory lock, in one transaction (replicas
        take turns: see :func:`_chain`)."""
        batch = tuple(events)
        if not batch:
            return []
        async with self._db.acquire() as c, c.transaction(isolation="read_committed"):
            return await _chain(c, batch)

    async def audit_entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` entries after ``after_seq``, in chain order."""
        rows = await self._db.fetch(
            f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",  # noqa: S608 - constant
            after_seq, limit,
        )  # fmt: skip
        return [audit_entry(tuple(row)) for row in rows]

    async def audit_head(self) -> AuditEntry | None:
        """The newest entry, or ``None``."""
        row = await self._db.fetchrow(f"SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1")  # noqa: S608 - constant
        return audit_entry(tuple(row)) if row is not None else None

    @_writes
    async def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        """Keep a signed checkpoint, unless one for its sequence number exists (another replica signed it)."""
        cp = checkpoint
        tag = await self._db.execute(
            f"INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1,$2,$3,$4,$5) "  # noqa: S608 - constant
            "ON CONFLICT (seq) DO NOTHING",
            cp.seq, cp.hash, cp.at, cp.key_id, cp.signature,
        )  # fmt: skip
        return _count(tag) == 1

    async def audit_checkpoints(self, after_seq: int, limit: int) -> list[AuditCheckpoint]:
        """Up to ``limit`` checkpoints after ``after_seq``, in sequence order."""
        rows = await self._db.fetch(
            f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2",  # noqa: S608 - constant
            after_seq, limit,
        )  # fmt: skip
        return [audit_checkpoint(tuple(row)) for row in rows]
