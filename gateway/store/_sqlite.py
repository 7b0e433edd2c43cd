"""The embedded SQLite store (WAL): writes run on the event loop in batched transactions, reads in threads.

A request's coroutine never waits on its own commit alone: the writes queued during one turn of the loop run in
one transaction (should one operation fail, the batch runs again with each operation in its own savepoint, so one
failure does not undo the others), and one fsync of the write-ahead log in the ``sqlite-sync`` thread makes every
commit since the previous one durable before their futures resolve (``_sqlite_writer``). Under load that turns
hundreds of fsyncs into one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from contracts import AttemptOutcome, RequestStatus, ServiceKind

from ._audit_chain import (
    AUDIT_COLUMNS,
    CHECKPOINT_COLUMNS,
    GENESIS,
    audit_checkpoint,
    audit_entry,
    audit_row,
    canonical_time,
    chain_events,
)
from ._documents import DOCUMENT_COLUMN, DOCUMENT_COLUMNS, stored_document, utc_text
from ._health import WriteHealth
from ._ids import new_document_id
from ._journeys import StepLink
from ._journeys_sqlite import SqliteJourneys, step_finished, step_started
from ._ops import FAILURES_SQL, QUEUE_SQL, QueueFigures, failures_from_rows, queue_from_rows
from ._port import (
    AuditCheckpoint,
    AuditEntry,
    AuditEvent,
    IdempotencyMismatch,
    NewRequest,
    NewWebhook,
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
from ._sqlite_writer import Writer, connect, unwritable

__all__ = ["SqliteStore"]

T = TypeVar("T")

_COLUMNS = (
    "id, client_id, service, agency, kind, status, mpp_id, desk, operator, nik_masked, envelope, result, "
    "agency_reference, problem, trace_id, traceparent, created_at, updated_at, finished_at, deadline_at, "
    "lease_owner, lease_expires, attempts, not_before, needs_reconcile, purged_at"
)


_REQUESTS = sql(REQUESTS_SQL, "?", problem_type="json_extract(problem, '$.type')")
_RATINGS = sql(RATINGS_SQL, "?")
_JOURNEY_VISITS = sql(JOURNEY_VISITS_SQL, "?")
_JOURNEY_RATINGS = sql(JOURNEY_RATINGS_SQL, "?")
_TRANSITIONS = sql(TRANSITIONS_SQL, "?")
_INSERT_TRANSITION = sql(INSERT_TRANSITION_SQL, "?")
_INSERT_RATING = sql(INSERT_RATING_SQL, "?")
_SELECT_RATING = sql(SELECT_RATING_SQL, "?")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(value: dt.datetime) -> str:
    return value.isoformat()


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _row_to_request(
    row: sqlite3.Row | tuple[Any, ...], attempts: tuple[StoredAttempt, ...], keys: KeyRing | None
) -> StoredRequest:
    (
        id_, client_id, service, agency, kind, status, mpp_id, desk, operator, nik_masked, envelope, result,
        agency_reference, problem, trace_id, traceparent, created_at, updated_at, finished_at, deadline_at,
        lease_owner, lease_expires, attempt_count, not_before, needs_reconcile, purged_at,
    ) = row  # fmt: skip
    return StoredRequest(
        id=id_,
        client_id=client_id,
        service=service,
        agency=agency,
        kind=ServiceKind(kind),
        status=RequestStatus(status),
        mpp_id=mpp_id,
        desk=desk,
        operator=operator,
        nik_masked=nik_masked,
        envelope=open_json(keys, envelope, column="requests.envelope", row=id_) or {},
        result=open_json(keys, result, column="requests.result", row=id_),
        agency_reference=open_text(keys, agency_reference, column="requests.agency_reference", row=id_),
        problem=orjson.loads(problem) if problem else None,
        trace_id=trace_id,
        traceparent=traceparent,
        created_at=dt.datetime.fromisoformat(created_at),
        updated_at=dt.datetime.fromisoformat(updated_at),
        finished_at=dt.datetime.fromisoformat(finished_at) if finished_at else None,
        deadline_at=deadline_at,
        lease_owner=lease_owner,
        lease_expires=lease_expires,
        attempt_count=attempt_count,
        attempts=attempts,
        not_before=not_before,
        needs_reconcile=bool(needs_reconcile),
        purged_at=dt.datetime.fromisoformat(purged_at) if purged_at else None,
    )


def _load(
    conn: sqlite3.Connection, request_id: str, with_attempts: bool, keys: KeyRing | None
) -> StoredRequest | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM requests WHERE id = ?", (request_id,)).fetchone()  # noqa: S608 - constant column list
    if row is None:
        return None
    attempts: tuple[StoredAttempt, ...] = ()
    if with_attempts:
        attempts = tuple(
            StoredAttempt(n, dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(f), AttemptOutcome(o), d)
            for n, s, f, o, d in conn.execute(
                "SELECT number, started_at, finished_at, outcome, detail FROM attempts "
                "WHERE request_id = ? ORDER BY number",
                (request_id,),
            )
        )
    return _row_to_request(row, attempts, keys)


def _insert_attempt(conn: sqlite3.Connection, request_id: str, a: StoredAttempt) -> None:
    conn.execute(
        "INSERT INTO attempts (request_id, number, started_at, finished_at, outcome, detail) VALUES (?,?,?,?,?,?)",
        (request_id, a.number, _ts(a.started_at), _ts(a.finished_at), a.outcome, a.detail),
    )



def _chain(c: sqlite3.Connection, events: Sequence[AuditEvent]) -> list[AuditEntry]:
    """Chain ``events`` after the audit log's head, inside the open write transaction (one writer: a linear chain)."""
    head = c.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    entries = chain_events(events, head[0], head[1]) if head else chain_events(events, 0, GENESIS)
    c.executemany(
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608 - constant
        [(row[0], canonical_time(row[1]), *row[2:]) for row in map(audit_row, entries)],
    )
    return entries


def _owner_only(path: str) -> None:
    """Create the database file for its owner alone, and take group and other access off one that has it.

    It holds sealed personal data and the audit log; the data keys are 0600 already. SQLite gives the ``-wal`` and
    ``-shm`` files the database file's permissions, so they follow; existing ones are tightened too.
    """
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(name, mode & 0o700)

class SqliteStore(SqliteJourneys):
    """The embedded default store: one SQLite file in WAL mode."""

    _audit = staticmethod(_chain)

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        max_batch: int = 512,
        group_commit_ms: float = 1.0,
        keys: KeyRing | None = None,
        webhook_lease: float = 60.0,
    ) -> None:
        """``keys`` seals personal data at rest (the gateway always passes its ring); without, values are plain."""
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        self.path = str(path)
        self._keys = keys
        self._synchronous = synchronous.upper()
        self._max_batch = max_batch
        self._group_window = group_commit_ms / 1000
        self._webhook_lease = webhook_lease
        self._writer: Writer | None = None
        self._health = WriteHealth()
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-read")

    async def open(self) -> None:
        """Create the file and folder if needed (the file readable by its owner alone), apply migrations, start
        the sync thread; :class:`StoreUnavailable` when the file or its folder cannot be written."""
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                _owner_only(self.path)
            writer = Writer(self.path, asyncio.get_running_loop(), self._max_batch, self._synchronous,
                            self._group_window)  # fmt: skip
            await writer.open()
        except OSError as exc:
            raise StoreUnavailable(f"the SQLite database {self.path} cannot be written: {exc.strerror}") from exc
        except sqlite3.Error as exc:
            if unwritable(exc):
                raise StoreUnavailable(f"the SQLite database {self.path} cannot be written: {exc}") from exc
            raise StoreError(f"the SQLite database {self.path} cannot be opened: {exc}") from exc
        self._writer = writer

    async def aclose(self) -> None:
        """Write what is queued and wait until it is durable, then stop the sync thread and the readers."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.aclose()
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        self._reader_conns.clear()

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        if self._writer is None:
            raise RuntimeError("store is not open")
        try:
            result: T = await self._writer.submit(fn, durable=durable)
        except sqlite3.Error as exc:
            if not unwritable(exc):
                raise
            self._health.failed(getattr(exc, "sqlite_errorname", type(exc).__name__))
            raise StoreUnavailable(f"the SQLite database cannot be written: {exc}") from exc
        self._health.succeeded()
        return result

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    async def ping(self) -> bool:
        """True when a read succeeds and the writer can write (no write failed for want of space or write access
        lately)."""
        if self._writer is None or not self._writer.is_alive() or not self._health.writable:
            return False
        try:
            await self._read(lambda c: c.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

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
        ``durable=False`` returns once committed, before the log is synced (see :meth:`RequestStore.insert`)."""
        r = request
        created = _ts(r.created_at)
        owner, expires = (lease[0], time.time() + lease[1]) if lease else (None, None)
        params = (
            r.id, r.client_id, r.service, r.agency, r.kind, "in_progress" if lease else "accepted", r.mpp_id,
            r.desk, r.operator, r.nik_masked,
            seal_json(self._keys, r.envelope, column="requests.envelope", row=r.id),
            r.trace_id, r.traceparent, created, created,
            r.deadline_at, owner, expires,
        )  # fmt: skip

        def op(c: sqlite3.Connection) -> str | None:
            if idempotency is not None:
                key, fingerprint = idempotency
                row = c.execute(
                    "SELECT fingerprint, request_id FROM idempotency_keys WHERE client_id = ? AND key = ?",
                    (r.client_id, key),
                ).fetchone()
                if row is not None:
                    if row[0] != fingerprint:
                        raise IdempotencyMismatch(row[1])
                    return str(row[1])
            c.execute(
                "INSERT INTO requests (id, client_id, service, agency, kind, status, mpp_id, desk, operator, "
                "nik_masked, envelope, trace_id, traceparent, created_at, updated_at, deadline_at, lease_owner, "
                "lease_expires) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                params,
            )
            if idempotency is not None:
                c.execute(
                    "INSERT INTO idempotency_keys (client_id, key, fingerprint, request_id, created_at) "
                    "VALUES (?,?,?,?,?)",
                    (r.client_id, idempotency[0], idempotency[1], r.id, time.time()),
                )
            if step is not None:
                step_started(c, step, r.id, r.created_at)
            events = tuple(e for e in (audit, step.audit if step else None) if e is not None)
            if events:
                _chain(c, events)
            return None

        return await self._write(op, durable=durable)

    async def make_durable(self, request_id: str) -> None:
        """Return once the request is on disk: a durable write of its row syncs the log, the insert with it."""
        touch = "UPDATE requests SET updated_at = updated_at WHERE id = ?"
        await self._write(lambda c: c.execute(touch, (request_id,)))

    async def get(self, request_id: str, *, with_attempts: bool = True) -> StoredRequest | None:
        """The request with its attempts, or ``None``."""
        return await self._read(lambda c: _load(c, request_id, with_attempts, self._keys))

    async def claim(self, request_id: str, owner: str, lease_seconds: float) -> StoredRequest | None:
        """Lease the request to ``owner`` if it is accepted or its lease expired."""

        def op(c: sqlite3.Connection) -> StoredRequest | None:
            now = time.time()
            # Taking over a submission from a dead owner: it may have reached the agency unrecorded.
            cur = c.execute(
                "UPDATE requests SET status = 'in_progress', lease_owner = ?, lease_expires = ?, updated_at = ?, "
                "needs_reconcile = CASE WHEN status = 'in_progress' AND kind = 'submission' THEN 1 "
                "ELSE needs_reconcile END "
                "WHERE id = ? AND (not_before IS NULL OR not_before <= ?) "
                "AND (status = 'accepted' OR (status = 'in_progress' AND lease_expires < ?))",
                (owner, now + lease_seconds, _ts(_now()), request_id, now, now),
            )
            if cur.rowcount != 1:
                return None
            return _load(c, request_id, False, self._keys)

        return await self._write(op)

    async def renew(self, request_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease ``owner`` holds."""

        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE requests SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND status = 'in_progress'",
                (time.time() + lease_seconds, request_id, owner),
            )
            return cur.rowcount == 1

        return await self._write(op)

    async def due(self, limit: int) -> list[str]:
        """Accepted requests and those whose lease expired, oldest first."""
        now = time.time()
        rows = await self._read(
            lambda c: c.execute(
                "SELECT id FROM requests WHERE (status = 'accepted' AND (not_before IS NULL OR not_before <= ?)) "
                "OR (status = 'in_progress' AND lease_expires < ?) ORDER BY created_at LIMIT ?",
                (now, now, limit),
            ).fetchall()
        )
        return [row[0] for row in rows]

    async def record_attempt(self, request_id: str, attempt: StoredAttempt) -> None:
        """Record an attempt that is not the last."""

        def op(c: sqlite3.Connection) -> None:
            _insert_attempt(c, request_id, attempt)
            c.execute(
                "UPDATE requests SET attempts = attempts + 1, updated_at = ? WHERE id = ?",
                (_ts(_now()), request_id),
            )

        await self._write(op)

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

        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "UPDATE requests SET status = ?, result = ?, agency_reference = ?, problem = ?, updated_at = ?, "
                "finished_at = ?, lease_owner = NULL, lease_expires = NULL, attempts = attempts + ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'in_progress'",
                (
                    status,
                    seal_json(self._keys, result, column="requests.result", row=request_id),
                    seal_text(self._keys, agency_reference, column="requests.agency_reference", row=request_id),
                    _json(problem),
                    _ts(now),
                    _ts(now) if final else None,
                    1 if attempt else 0,
                    request_id,
                    owner,
                ),
            )
            if cur.rowcount != 1:
                return False
            step_finished(c, request_id, status, now)
            if attempt is not None:
                _insert_attempt(c, request_id, attempt)
            if webhook is not None:
                c.execute(
                    "INSERT INTO webhooks (id, request_id, client_id, url, body, next_at) VALUES (?,?,?,?,?,?)",
                    (webhook.id, request_id, webhook.client_id, webhook.url,
                     seal_json(self._keys, webhook.body, column="webhooks.body", row=webhook.id), time.time()),
                )
            if audit is not None:
                _chain(c, (audit,))
            return True

        return await self._write(op)

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

        def op(c: sqlite3.Connection) -> None:
            cur = c.execute(
                "UPDATE requests SET status = 'accepted', lease_owner = NULL, lease_expires = NULL, updated_at = ?, "
                "not_before = ?, needs_reconcile = COALESCE(?, needs_reconcile), attempts = attempts + ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'in_progress'",
                (
                    _ts(_now()), not_before, None if needs_reconcile is None else int(needs_reconcile),
                    1 if attempt else 0, request_id, owner,
                ),
            )  # fmt: skip
            if cur.rowcount == 1 and attempt is not None:
                _insert_attempt(c, request_id, attempt)

        await self._write(op)

    async def queue_stats(self) -> tuple[int, float | None]:
        """Requests not yet final (waiting_agency aside) and the acceptance time of the oldest."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT COUNT(*), MIN(created_at) FROM requests WHERE status IN ('accepted', 'in_progress')"
            ).fetchone()
        )
        oldest = dt.datetime.fromisoformat(row[1]).timestamp() if row[1] else None
        return int(row[0]), oldest

    async def queue_by_agency(self) -> list[QueueFigures]:
        """The queue per agency (:mod:`gateway.store._ops`)."""
        now = time.time()
        return queue_from_rows(await self._read(lambda c: c.execute(QUEUE_SQL["sqlite"], (now, now)).fetchall()))

    async def failures_since(self, since: dt.datetime) -> dict[str, int]:
        """Failed requests since ``since`` by problem slug (:mod:`gateway.store._ops`)."""
        at = _ts(since.astimezone(dt.UTC))
        return failures_from_rows(await self._read(lambda c: c.execute(FAILURES_SQL["sqlite"], (at,)).fetchall()))

    async def search(self, query: RequestQuery) -> RequestPage:
        """Requests matching ``query``, newest first, with their attempts (:mod:`gateway.store._search`)."""
        sql, params = search_sql(query, "sqlite")

        def read(c: sqlite3.Connection) -> list[StoredRequest]:
            rows = c.execute(sql, params).fetchall()
            attempts: dict[str, list[StoredAttempt]] = {}
            if ids := [row[0] for row in rows[: query.limit]]:
                for request_id, n, s, f, o, d in c.execute(*attempts_sql(ids, "sqlite")):
                    started, finished = dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(f)
                    found = StoredAttempt(n, started, finished, AttemptOutcome(o), d)
                    attempts.setdefault(request_id, []).append(found)
            return [_row_to_request(row, tuple(attempts.get(row[0], ())), self._keys) for row in rows]

        return page_of(await self._read(read), query.limit)

    async def requests_by_status(self, since: dt.datetime) -> dict[str, int]:
        """Requests created since ``since`` by status (:mod:`gateway.store._search`)."""
        sql, params = status_counts_sql(since, "sqlite")
        return counts_by_status(await self._read(lambda c: c.execute(sql, params).fetchall()))

    async def purge_idempotency_keys(self, older_than: float) -> int:
        """Forget idempotency keys created before ``older_than``."""
        return await self._write(
            lambda c: c.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (older_than,)).rowcount
        )

    async def purge_personal_data(self, older_than: float, *, limit: int = 500) -> int:
        """Null the envelope, result and reference of up to ``limit`` final requests finished before ``older_than``
        (and blank their finished webhooks' bodies); status, counter, attempts and timestamps stay."""
        cutoff = _ts(dt.datetime.fromtimestamp(older_than, dt.UTC))

        def op(c: sqlite3.Connection) -> int:
            # A delivery the sender gave up on waits at next_at 1e12: only one still being tried holds a purge back.
            ids = c.execute(
                "SELECT id FROM requests WHERE finished_at IS NOT NULL AND purged_at IS NULL AND finished_at < ? "
                "AND status IN ('completed', 'rejected', 'failed') AND NOT EXISTS (SELECT 1 FROM webhooks w "
                "WHERE w.request_id = requests.id AND w.delivered_at IS NULL AND w.next_at < 1e12) "
                "ORDER BY finished_at LIMIT ?",
                (cutoff, limit),
            ).fetchall()
            purged_at = _ts(_now())
            c.executemany(
                "UPDATE requests SET envelope = 'null', result = NULL, agency_reference = NULL, purged_at = ? "
                "WHERE id = ?",
                [(purged_at, i) for (i,) in ids],
            )
            c.executemany("UPDATE webhooks SET body = '' WHERE request_id = ?", ids)
            return len(ids)

        return await self._write(op)

    async def record_circuit(self, transitions: Sequence[CircuitTransition]) -> None:
        """Keep circuit states as replicas saw them."""
        rows = [(t.agency, t.replica, _ts(t.at.astimezone(dt.UTC)), t.state) for t in transitions]
        if rows:
            await self._write(lambda c: c.executemany(_INSERT_TRANSITION, rows))

    async def save_rating(self, rating: Rating, *, audit: AuditEvent | None = None) -> Rating | None:
        """Keep ``rating`` and its ``audit`` entry in one transaction, or return the request's earlier rating."""
        params = rating_params(rating, _ts(rating.rated_at.astimezone(dt.UTC)))

        def op(c: sqlite3.Connection) -> Rating | None:
            if c.execute(_INSERT_RATING, params).rowcount == 1:
                if audit is not None:
                    _chain(c, (audit,))
                return None
            return rating_from_row(c.execute(_SELECT_RATING, (rating.request_id,)).fetchone())

        return await self._write(op)

    async def service_levels(self, query: ReportQuery, *, now: dt.datetime | None = None) -> list[ServiceLevelRow]:
        """The report's rows, built in a reader thread from one snapshot of the window's rows."""
        builder = ServiceLevelBuilder(query, now=now or _now())
        window = (_ts(query.start.astimezone(dt.UTC)), _ts(query.end.astimezone(dt.UTC)))

        def build(c: sqlite3.Connection) -> list[ServiceLevelRow]:
            c.execute("BEGIN")  # one snapshot for the three reads
            try:
                for created_at, agency, service, mpp_id, *scores in c.execute(_RATINGS, window):
                    builder.add_rating(created_at, agency, service, mpp_id, scores)
                for row in c.execute(_JOURNEY_VISITS, window):
                    builder.add_journey_step(*row)
                for row in c.execute(_JOURNEY_RATINGS, window):
                    builder.add_journey_rating(*row)
                builder.add_transitions(transition_from_row(r) for r in c.execute(_TRANSITIONS, (*window, window[0])))
                for row in c.execute(_REQUESTS, window):
                    builder.add_request(*row)
            finally:
                c.execute("COMMIT")
            return builder.rows()

        return await self._read(build)

    async def due_webhooks(self, limit: int) -> list[Webhook]:
        """Undelivered webhooks whose next try is due, oldest first, each reserved for this caller for a while
        (several worker processes may share the file: one of them sends each)."""

        def op(c: sqlite3.Connection) -> list[tuple[Any, ...]]:
            now = time.time()
            rows = c.execute(
                "SELECT id, request_id, client_id, url, body, attempts FROM webhooks "
                "WHERE delivered_at IS NULL AND next_at <= ? ORDER BY next_at LIMIT ?",
                (now, limit),
            ).fetchall()
            until = now + self._webhook_lease
            c.executemany("UPDATE webhooks SET next_at = ? WHERE id = ?", [(until, row[0]) for row in rows])
            return rows

        rows = await self._write(op)
        return [
            Webhook(i, r, c, u, open_json_text(self._keys, body, column="webhooks.body", row=i), a)
            for i, r, c, u, body, a in rows
        ]

    async def webhook_tried(self, webhook_id: str, *, delivered: bool, next_at: float, error: str | None) -> None:
        """Record one delivery try."""
        await self._write(
            lambda c: c.execute(
                "UPDATE webhooks SET attempts = attempts + 1, next_at = ?, last_error = ?, "
                "delivered_at = CASE WHEN ? THEN ? ELSE NULL END WHERE id = ?",
                (next_at, error, int(delivered), time.time(), webhook_id),
            )
        )

    async def save_document(
        self, agency: str, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime
    ) -> None:
        """Append ``document`` to the history of ``(agency, kind, key)``, sealed."""
        doc_id = new_document_id()
        params = (
            doc_id, agency, kind, key, seal_json(self._keys, document, column=DOCUMENT_COLUMN, row=doc_id),
            utc_text(received_at),
        )  # fmt: skip
        try:
            await self._write(
                lambda c: c.execute(
                    "INSERT INTO agency_documents (id, agency, kind, key, document, received_at) VALUES (?,?,?,?,?,?)",
                    params,
                )
            )
        except sqlite3.Error as exc:
            raise StoreError(f"the {agency} {kind} document could not be stored") from exc

    async def latest_document(self, agency: str, kind: str, key: str) -> StoredDocument | None:
        """The document of ``(agency, kind, key)`` saved last, or ``None``."""
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM agency_documents WHERE agency = ? AND kind = ? AND key = ? "  # noqa: S608 - constant
                "ORDER BY seq DESC LIMIT 1",
                (agency, kind, key),
            ).fetchone()
        )
        return None if row is None else self._document(row)

    async def document_history(self, agency: str, kind: str, key: str) -> list[StoredDocument]:
        """Every kept document of ``(agency, kind, key)``, in the order saved."""
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM agency_documents WHERE agency = ? AND kind = ? AND key = ? "  # noqa: S608 - constant
                "ORDER BY seq",
                (agency, kind, key),
            ).fetchall()
        )
        return [self._document(row) for row in rows]

    def _document(self, row: tuple[Any, ...]) -> StoredDocument:
        *fields, received_at = row
        return stored_document(self._keys, *fields, received_at=dt.datetime.fromisoformat(received_at))

    async def purge_documents(self, older_than: float, *, limit: int = 500) -> int:
        """Delete up to ``limit`` documents received before ``older_than``, oldest first."""
        cutoff = utc_text(dt.datetime.fromtimestamp(older_than, dt.UTC))
        return await self._write(
            lambda c: c.execute(
                "DELETE FROM agency_documents WHERE seq IN "
                "(SELECT seq FROM agency_documents WHERE received_at < ? ORDER BY received_at LIMIT ?)",
                (cutoff, limit),
            ).rowcount
        )

    async def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Chain ``events`` after the head within the writer's transaction: one writer keeps the chain linear."""
        batch = tuple(events)
        return await self._write(lambda c: _chain(c, batch)) if batch else []

    async def audit_entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` entries after ``after_seq``, in chain order."""
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608 - constant
                (after_seq, limit),
            ).fetchall()
        )
        return [audit_entry(row) for row in rows]

    async def audit_head(self) -> AuditEntry | None:
        """The newest entry, or ``None``."""
        row = await self._read(
            lambda c: c.execute(f"SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()  # noqa: S608 - constant
        )
        return audit_entry(row) if row else None

    async def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        """Keep a signed checkpoint, unless one for its sequence number exists."""
        cp = checkpoint
        params = (cp.seq, cp.hash, canonical_time(cp.at), cp.key_id, cp.signature)
        return await self._write(
            lambda c: c.execute(
                f"INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES (?,?,?,?,?) "  # noqa: S608 - constant
                "ON CONFLICT (seq) DO NOTHING",
                params,
            ).rowcount
            == 1
        )

    async def audit_checkpoints(self, after_seq: int, limit: int) -> list[AuditCheckpoint]:
        """Up to ``limit`` checkpoints after ``after_seq``, in sequence order."""
        rows = await self._read(
            lambda c: c.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608 - constant
                (after_seq, limit),
            ).fetchall()
        )
        return [audit_checkpoint(row) for row in rows]
