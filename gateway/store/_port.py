"""The store port: what the API, the dispatcher, the audit log and the adapters' inbound routes need from durable
storage, whatever the database.

One protocol per aggregate its callers use, so each caller can be typed against the part it touches::

    Store                 open, aclose, ping: the whole, as the composition root builds it
    ├── RequestStore      requests, attempts, the queue (status plus lease), idempotency keys, their retention
    ├── WebhookOutbox     notifications waiting for delivery
    ├── AuditStore        the hash-chained audit log and its signed checkpoints
    ├── DocumentStore     what agencies push to the region, kept as history
    └── ReportStore       service levels: circuit records, citizens' ratings, the report computed from them
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from contracts import TRANSITIONS, AttemptOutcome, RequestStatus, ServiceKind

from ._journeys import JourneyStore, StepLink
from ._ops import QueueFigures
from ._reports import CircuitTransition, Rating, ReportQuery, ServiceLevelRow
from ._search import RequestPage, RequestQuery

__all__ = [
    "AuditCheckpoint",
    "AuditEntry",
    "AuditEvent",
    "AuditStore",
    "DocumentStore",
    "IdempotencyMismatch",
    "InvalidTransition",
    "NewRequest",
    "NewWebhook",
    "ReportStore",
    "RequestStore",
    "SchemaOutdated",
    "SchemaStatus",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredAttempt",
    "StoredDocument",
    "StoredRequest",
    "Webhook",
    "WebhookOutbox",
    "check_transition",
]


class StoreError(Exception):
    """The store could not do what was asked (the database driver's error, if any, is the ``__cause__``)."""


class StoreUnavailable(StoreError):
    """The database cannot take writes now (disk or database full, read-only, out of resources): nothing of the
    failed write was kept. The store reports itself not ready (:meth:`Store.ping`) for a while, and recovers on its
    own once writes succeed again."""

    #: Seconds a caller is told to wait before trying again (``Retry-After``).
    retry_after = 10


class SchemaOutdated(StoreError):
    """The database's schema is older than this gateway needs: ``mpp-gateway db upgrade`` brings it up to date."""


class InvalidTransition(StoreError):
    """A status change the request's status machine (:data:`contracts.TRANSITIONS`) does not allow."""


def check_transition(current: RequestStatus, new: RequestStatus) -> None:
    """Refuse a status change :data:`contracts.TRANSITIONS` does not allow, before anything is written."""
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"a request cannot go from {current} to {new}")


class IdempotencyMismatch(Exception):
    """The idempotency key was used before with a different request body."""

    def __init__(self, request_id: str) -> None:
        super().__init__("idempotency key reused with a different body")
        self.request_id = request_id


@dataclasses.dataclass(frozen=True, slots=True)
class NewRequest:
    """A validated request, as the API persists it before answering."""

    id: str
    client_id: str
    service: str
    agency: str
    kind: ServiceKind
    mpp_id: str
    desk: str
    operator: str
    nik_masked: str
    envelope: dict[str, Any]
    trace_id: str | None
    traceparent: str | None
    created_at: dt.datetime
    deadline_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class StoredAttempt:
    """One recorded call to the agency."""

    number: int
    started_at: dt.datetime
    finished_at: dt.datetime
    outcome: AttemptOutcome
    detail: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request as the store holds it."""

    id: str
    client_id: str
    service: str
    agency: str
    kind: ServiceKind
    status: RequestStatus
    mpp_id: str
    desk: str
    operator: str
    nik_masked: str
    envelope: dict[str, Any]
    result: dict[str, Any] | None
    agency_reference: str | None
    problem: dict[str, Any] | None
    trace_id: str | None
    traceparent: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    deadline_at: float
    lease_owner: str | None
    lease_expires: float | None
    attempt_count: int
    attempts: tuple[StoredAttempt, ...] = ()
    not_before: float | None = None
    #: True when a submission may have reached the agency unrecorded: ask the agency before sending again.
    needs_reconcile: bool = False
    #: When the retention purge removed the personal data (envelope, result, agency reference); ``None`` if not yet.
    purged_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewWebhook:
    """A notification to deliver, written in the same transaction as the status it announces."""

    id: str
    client_id: str
    url: str
    body: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Webhook:
    """A notification waiting for delivery."""

    id: str
    request_id: str
    client_id: str
    url: str
    body: str
    attempts: int


@dataclasses.dataclass(frozen=True, slots=True)
class StoredDocument:
    """One document an agency pushed to the region, as the store keeps it (personal data included)."""

    agency: str
    #: The sort of document (``"nib"``), the adapter's word.
    kind: str
    #: What it is about (the NIB): kept in clear to find it by, so never a person's NIK or name.
    key: str
    document: dict[str, Any]
    received_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Which versioned migrations a database has, against those this gateway ships."""

    applied: tuple[int, ...]
    available: tuple[int, ...]

    @property
    def pending(self) -> tuple[int, ...]:
        """Shipped migrations the database does not have yet."""
        return tuple(v for v in self.available if v not in self.applied)

    @property
    def current(self) -> int:
        """The highest applied version (0 for an empty database)."""
        return max(self.applied, default=0)


class RequestStore(Protocol):
    """Requests, their attempts and the work queue (status plus lease): what accepting and dispatching need."""

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
        """Persist a new request in status ``accepted``; returns once it is durable.

        With ``lease=(owner, seconds)`` the request is stored already claimed (``in_progress`` under that lease),
        for a dispatcher that runs it at once: one write instead of an insert and a claim.

        With ``idempotency=(key, fingerprint)``, a key the client used before returns the earlier request's id
        instead (``None`` means the new request was stored), or raises :class:`IdempotencyMismatch` when the
        earlier body differed.

        ``audit`` (the ``request.accepted`` entry) is chained into the audit log in the same transaction as the new
        request, so a stored request always has it; a replayed key stores neither.

        ``step`` (a journey's step the request runs as) moves that step from ``pending`` to ``running`` under this
        request in the same transaction, followed by ``step.audit``; when the step is not pending at the expected
        run, nothing is stored (:class:`~gateway.store._journeys.StepTaken`).

        ``durable=False`` returns once the transaction is committed, without waiting for it to reach the disk: the
        commit itself shows the request can be stored (a full disk or a read-only store fails it), and the next
        durable write of this store takes it to disk with it, the log being written in order. Only for a request
        nobody is told about before such a write: a lookup answered within its call, whose ``finish`` is durable
        before the answer (or :meth:`make_durable` before a 202). A crash of the machine before then may lose
        the request and its ``request.accepted`` entry together, as a suffix of the log; the audit chain stays
        whole.
        """

    async def make_durable(self, request_id: str) -> None:
        """Return once ``request_id``, stored with ``durable=False``, is on disk: a durable write of its row,
        whose sync covers everything committed before it."""

    async def get(self, request_id: str, *, with_attempts: bool = True) -> StoredRequest | None:
        """The request, or ``None``."""

    async def claim(self, request_id: str, owner: str, lease_seconds: float) -> StoredRequest | None:
        """Lease an ``accepted`` request (or one whose lease expired) to ``owner``; ``None`` if not claimable."""

    async def renew(self, request_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease; ``False`` when the lease was lost."""

    async def due(self, limit: int) -> list[str]:
        """Ids of requests waiting for work: ``accepted``, or ``in_progress`` with an expired lease."""

    async def record_attempt(self, request_id: str, attempt: StoredAttempt) -> None:
        """Record one attempt of a request still in progress."""

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
        """Record the final attempt and the new status (and queue its webhook), if ``owner`` holds the lease.

        ``at`` is the time recorded as updated (and finished), so a caller can answer without reading back.
        ``audit`` (the ``request.<status>`` entry) is chained into the audit log in the same transaction as the
        status: both are written, or neither. A request a journey's step runs as gives that step its final status
        in the same transaction too.
        """

    async def release(
        self,
        request_id: str,
        owner: str,
        *,
        not_before: float | None = None,
        needs_reconcile: bool | None = None,
        attempt: StoredAttempt | None = None,
    ) -> None:
        """Give a lease back: the request returns to ``accepted``, claimable from ``not_before`` on."""

    async def queue_stats(self) -> tuple[int, float | None]:
        """Requests waiting (accepted or in progress) and the Unix time the oldest of them was accepted."""

    async def queue_by_agency(self) -> list[QueueFigures]:
        """The queue per agency, by agency: depth, oldest acceptance, deferred requests and their earliest next try."""

    async def failures_since(self, since: dt.datetime) -> dict[str, int]:
        """Requests failed since ``since``, counted by problem slug, most first."""

    async def search(self, query: RequestQuery) -> RequestPage:
        """Requests matching ``query``, newest first (``created_at``, then ``id``), one page and the next's cursor.

        Without ``query.with_personal_data`` the rows have an empty envelope and no result or agency reference
        (nothing sealed is read); each row carries its attempts.
        """

    async def requests_by_status(self, since: dt.datetime) -> dict[str, int]:
        """Requests created since ``since``, counted by status (every status named, zero included)."""

    async def purge_idempotency_keys(self, older_than: float) -> int:
        """Forget idempotency keys created before ``older_than`` (Unix time)."""

    async def purge_personal_data(self, older_than: float, *, limit: int = 500) -> int:
        """Remove the envelope, result and agency reference of up to ``limit`` final requests that finished before
        ``older_than`` (Unix time), setting ``purged_at``; returns how many. Status, service, counter, masked NIK,
        attempts, timestamps and problem stay. A request with a webhook still being delivered waits for it."""


class WebhookOutbox(Protocol):
    """Notifications waiting for delivery; :meth:`RequestStore.finish` queues them with the status they announce."""

    async def due_webhooks(self, limit: int) -> list[Webhook]:
        """Undelivered webhooks whose next try is due."""

    async def webhook_tried(self, webhook_id: str, *, delivered: bool, next_at: float, error: str | None) -> None:
        """Record one delivery try."""


class AuditStore(Protocol):
    """The append-only, hash-chained audit log and its signed checkpoints."""

    async def append_audit(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Append ``events`` to the audit chain, in order, in one transaction; returns the sealed entries.

        The store numbers and links them while it holds the chain's head exclusively, so concurrent appends (from
        several replicas too) form one linear chain; either every entry of the call is durable or none is.
        """

    async def audit_entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` audit entries with a sequence number above ``after_seq``, in chain order."""

    async def audit_head(self) -> AuditEntry | None:
        """The newest audit entry, or ``None`` for an empty log."""

    async def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        """Keep a signed checkpoint; ``False`` when one for the same sequence number exists already."""

    async def audit_checkpoints(self, after_seq: int, limit: int) -> list[AuditCheckpoint]:
        """Up to ``limit`` checkpoints for sequence numbers above ``after_seq``, in sequence order."""


class DocumentStore(Protocol):
    """What agencies push to the region (an adapter's inbound routes), every agency in one table.

    Every save is kept as history, in the order saved; the document is sealed at rest like a request's envelope,
    and purged once older than the retention period. :class:`gateway.store.ScopedDocuments` hands one agency's
    share of it to that agency's adapter.
    """

    async def save_document(
        self, agency: str, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime
    ) -> None:
        """Keep ``document`` as the latest of ``(agency, kind, key)``; :class:`StoreError` if it cannot be kept.

        ``received_at`` must carry its time zone (:class:`ValueError` otherwise).
        """

    async def latest_document(self, agency: str, kind: str, key: str) -> StoredDocument | None:
        """The document of ``(agency, kind, key)`` saved last, or ``None``."""

    async def document_history(self, agency: str, kind: str, key: str) -> list[StoredDocument]:
        """Every document of ``(agency, kind, key)`` still kept, in the order saved; empty if none."""

    async def purge_documents(self, older_than: float, *, limit: int = 500) -> int:
        """Delete up to ``limit`` documents received before ``older_than`` (Unix time), oldest first; returns how
        many. A key whose every document is older disappears; newer documents of a key stay."""


class ReportStore(Protocol):
    """Service levels (:mod:`gateway.store._reports`): circuit states the replicas record, citizens' ratings, and
    the report computed from them and the requests."""

    async def record_circuit(self, transitions: Sequence[CircuitTransition]) -> None:
        """Keep circuit states as replicas saw them (a change, or the state at start and every heartbeat)."""

    async def save_rating(self, rating: Rating, *, audit: AuditEvent | None = None) -> Rating | None:
        """Keep ``rating`` with its ``audit`` entry in one transaction, unless the request has a rating already:
        then nothing is written and the earlier rating is returned (``None`` when this one was kept)."""

    async def service_levels(self, query: ReportQuery, *, now: dt.datetime | None = None) -> list[ServiceLevelRow]:
        """The report's rows for ``query``, computed from the requests, ratings and circuit records of its window."""


class Store(RequestStore, WebhookOutbox, AuditStore, DocumentStore, ReportStore, JourneyStore, Protocol):
    """The whole of durable storage, opened and closed as one: the composition root builds one and hands each
    part to the code that needs it (the narrow protocols above say which part that is)."""

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def aclose(self) -> None:
        """Flush pending writes and disconnect."""

    async def ping(self) -> bool:
        """True when the store answers and takes writes: ``False`` for :attr:`StoreUnavailable.retry_after` seconds
        after a write failed for want of space or write access, or at once when a write succeeds again."""


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEvent:
    """Something to record in the audit log: who did what about whom, when, with what outcome."""

    action: str
    at: dt.datetime
    client_id: str | None = None
    mpp_id: str | None = None
    desk: str | None = None
    operator: str | None = None
    service: str | None = None
    request_id: str | None = None
    #: The applicant's NIK as a keyed hash (:func:`gateway.audit.subject_hash`), never the NIK itself.
    subject: str | None = None
    outcome: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEntry:
    """An event sealed into the chain: its sequence number, the previous entry's hash, and its own."""

    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class AuditCheckpoint:
    """A signature over the chain's head at a moment: ``(seq, hash, at)`` signed with the key ``key_id`` names."""

    seq: int
    hash: str
    at: dt.datetime
    key_id: str
    #: Ed25519 signature, base64, over :func:`gateway.audit.checkpoint_message`.
    signature: str
