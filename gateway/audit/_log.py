"""The audit log: who asked what about whom, when, and the outcome; append-only, hash-chained, signed.

Every entry names its actor (client, MPP, desk, operator), an action (``request.accepted``, ``request.completed``,
``request.read``, ``access.denied``...), the service and request, the subject as a keyed hash of the applicant's NIK
(HMAC-SHA256 under ``MPP_AUDIT_KEY``: the same citizen always has the same subject, and only a holder of the key can
tell whose it is), the outcome, and the hash of the entry before it. An entry's hash is SHA-256 over its canonical
encoding (sorted keys) including that previous hash, so an edit, a deletion or a reordering breaks the chain at the
first entry concerned. The chain's head is signed now and then (Ed25519, ``MPP_AUDIT_SIGNING_KEY``) into a
checkpoint, so cutting the tail off shows too. ``mpp-gateway audit verify`` (:mod:`gateway.audit._verify`) checks it.

The store numbers and links entries inside its write transaction, so the chain stays linear with any number of
replicas. A request's own entries (``request.accepted``, ``request.<final status>``) are written in the transaction
that stores the request or its final status (:meth:`RequestStore.insert`, :meth:`RequestStore.finish`): a request
the store holds always has them, whenever the process dies. The :class:`Auditor` builds those entries (the subject
hash is its business) and appends the others (reads, refusals) itself (:meth:`Store.append_audit`), gathering the
entries recorded while one append is under way into the next: under load, one transaction carries many entries.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import RequestStatus, ServiceRequest

from ..config import Settings
from ..security import Client
from ..store import AuditCheckpoint, AuditEvent, AuditStore, NewRequest, StoredRequest, StoreError, StoreUnavailable
from ._keys import checkpoint_message, key_id, load_private_key, subject_hash

__all__ = ["Auditor", "build_auditor"]

log = structlog.get_logger("gateway.audit")

_MIN_KEY_BYTES = 16
#: Tries of one append before the entries' callers are told it failed (a database failing over, say).
_APPEND_TRIES = 3


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _consume(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()


def _slug(problem: Mapping[str, Any] | None) -> str | None:
    kind = problem.get("type") if problem else None
    return str(kind).rsplit("/", 1)[-1] if kind else None


class Auditor:
    """Records audit events through the store and signs checkpoints; built once, at the composition root.

    Without a store it records nothing (:meth:`off`); without an audit key, entries carry no subject; without a
    signing key, no checkpoints are written. :func:`build_auditor` warns about each at start.
    """

    def __init__(
        self,
        store: AuditStore | None,
        *,
        key: bytes | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
        max_batch: int = 512,
        retry_delay: float = 0.05,
    ) -> None:
        self._store = store
        self._key = key
        self._signing_key = signing_key
        self._key_id = key_id(signing_key.public_key()) if signing_key is not None else None
        self._clock = clock
        self._max_batch = max_batch
        self._retry_delay = retry_delay
        self._pending: collections.deque[tuple[tuple[AuditEvent, ...], asyncio.Future[None]]] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._checkpointed = 0

    def __repr__(self) -> str:  # the keys stay out of reprs
        return f"Auditor(enabled={self.enabled}, keyed={self._key is not None}, signing={self._key_id})"

    @classmethod
    def off(cls) -> Auditor:
        """An auditor that records nothing (tests and tools that run no API)."""
        return cls(None)

    @property
    def enabled(self) -> bool:
        """True when events are recorded."""
        return self._store is not None

    def subject(self, nik: object) -> str | None:
        """The subject hash of ``nik``; ``None`` without an audit key or a NIK."""
        if self._key is None or not isinstance(nik, str) or not nik:
            return None
        return subject_hash(self._key, nik)

    def record(self, *events: AuditEvent) -> asyncio.Future[None]:
        """Queue ``events`` for the chain now (in call order); the future resolves once they are durable.

        Appends run one at a time per process; what is recorded meanwhile goes into the next append, together.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if self._store is None or not events:
            done.set_result(None)
            return done
        done.add_done_callback(_consume)  # a failure is logged where it happens, awaited or not
        self._pending.append((events, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(self._store), name="audit-append")
        return done

    async def _flush(self, store: AuditStore) -> None:
        while self._pending:
            batch: list[tuple[tuple[AuditEvent, ...], asyncio.Future[None]]] = []
            size = 0
            while self._pending and (not batch or size + len(self._pending[0][0]) <= self._max_batch):
                item = self._pending.popleft()
                batch.append(item)
                size += len(item[0])
            error = await self._append(store, [event for events, _ in batch for event in events])
            for _, done in batch:
                if done.done():  # its caller went away; the entries are written all the same
                    continue
                if error is None:
                    done.set_result(None)
                elif isinstance(error, StoreUnavailable):  # full or read-only: the caller may answer 503
                    done.set_exception(StoreUnavailable("the audit log could not be written: the store is unavailable"))
                else:
                    done.set_exception(StoreError("the audit log could not be written"))

    async def _append(self, store: AuditStore, events: list[AuditEvent]) -> BaseException | None:
        for attempt in range(1, _APPEND_TRIES + 1):
            try:
                await store.append_audit(events)
            except Exception as exc:
                log.error("audit.append_failed", entries=len(events), attempt=attempt, error=type(exc).__name__)
                if attempt == _APPEND_TRIES:
                    return exc
                await asyncio.sleep(self._retry_delay * attempt)
            else:
                return None
        return None  # pragma: no cover - the loop returns

    def accepted(self, request: NewRequest, nik: str) -> AuditEvent | None:
        """The ``request.accepted`` entry of a request about to be stored, by the counter that made it; ``None``
        when nothing is recorded.

        The store writes it in the same transaction as the request (:meth:`RequestStore.insert`), so a stored
        request always has it and a request that could not be stored has none.
        """
        if self._store is None:
            return None
        return AuditEvent(
            "request.accepted", self._clock(), request.client_id, request.mpp_id, request.desk, request.operator,
            request.service, request.id, self.subject(nik), "ok",
        )  # fmt: skip

    def finished(
        self, request: StoredRequest, status: RequestStatus, problem: Mapping[str, Any] | None
    ) -> AuditEvent | None:
        """The ``request.<status>`` entry of a request reaching a final ``status``, with the problem's slug as the
        outcome; ``None`` for a status that is not final, or when nothing is recorded.

        The store writes it in the same transaction as the status (:meth:`RequestStore.finish`): both or neither.
        """
        if self._store is None or not status.final:
            return None
        applicant = request.envelope.get("applicant")
        nik = applicant.get("nik") if isinstance(applicant, dict) else None
        return AuditEvent(
            f"request.{status}", self._clock(), request.client_id, request.mpp_id, request.desk, request.operator,
            request.service, request.id, self.subject(nik), _slug(problem) or "ok",
        )  # fmt: skip

    def read(self, client: Client, row: StoredRequest) -> asyncio.Future[None]:
        """A client read a request's record: ``request.read`` once it holds a result (nothing to disclose before)."""
        if row.result is None:
            return self.record()
        return self.record(
            AuditEvent(
                "request.read", self._clock(), client.id, client.mpp_id, None, None, row.service, row.id,
                self._row_subject(row), "ok",
            )
        )  # fmt: skip

    def denied(self, client: Client, service: str, envelope: ServiceRequest, reason: str) -> asyncio.Future[None]:
        """A client was refused a service or an MPP (403): ``access.denied``, with the reason as the outcome."""
        counter = envelope.counter
        return self.record(
            AuditEvent(
                "access.denied", self._clock(), client.id, counter.mpp_id, counter.desk, counter.operator, service,
                None, self.subject(envelope.applicant.nik), reason,
            )
        )  # fmt: skip

    def denied_read(self, client: Client, row: StoredRequest | None) -> asyncio.Future[None]:
        """A client asked for a request it may not see: ``access.denied`` (an unknown id concerns nobody)."""
        if row is None:
            return self.record()
        return self.record(
            AuditEvent(
                "access.denied", self._clock(), client.id, client.mpp_id, None, None, row.service, row.id,
                self._row_subject(row), "not-visible",
            )
        )  # fmt: skip

    def _row_subject(self, row: StoredRequest) -> str | None:
        applicant = row.envelope.get("applicant")
        return self.subject(applicant.get("nik") if isinstance(applicant, dict) else None)

    async def checkpoint(self) -> AuditCheckpoint | None:
        """Sign the chain's head and keep the checkpoint; ``None`` when there is no key or nothing new."""
        if self._store is None or self._signing_key is None or self._key_id is None:
            return None
        head = await self._store.audit_head()
        if head is None or head.seq <= self._checkpointed:
            return None
        at = self._clock()
        signature = self._signing_key.sign(checkpoint_message(head.seq, head.hash, at, self._key_id))
        checkpoint = AuditCheckpoint(head.seq, head.hash, at, self._key_id, base64.b64encode(signature).decode())
        await self._store.add_audit_checkpoint(checkpoint)
        self._checkpointed = head.seq
        log.info("audit.checkpoint", seq=head.seq)
        return checkpoint

    def start(self, interval: float) -> None:
        """Sign a checkpoint every ``interval`` seconds while the gateway runs (when there is a signing key)."""
        if self._store is not None and self._signing_key is not None and interval > 0:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(interval), name="audit-checkpoints")

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # the next round tries again
                log.warning("audit.checkpoint_failed", error=type(exc).__name__)

    async def aclose(self) -> None:
        """Write what is queued, stop the checkpoint timer, and sign the final head (a clean shutdown)."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        try:
            await self.checkpoint()
        except Exception as exc:  # shutting down regardless; the next start signs the head
            log.warning("audit.checkpoint_failed", error=type(exc).__name__)


def _secret(settings: Settings, name: str) -> str | None:
    """A secret setting's value, given directly or (``MPP_<NAME>_FILE``) as a file's content."""
    value: str | None = getattr(settings, name)
    path: str | None = getattr(settings, name + "_file")
    if value is None and path:
        value = Path(path).read_text(encoding="utf-8").strip()
    return value


def build_auditor(settings: Settings, store: AuditStore) -> Auditor:
    """The auditor the settings describe; ``ValueError`` (naming the setting, never its value) on a bad key."""
    key = None
    audit_key = _secret(settings, "audit_key")
    if audit_key is not None:
        key = audit_key.encode()
        if len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"MPP_AUDIT_KEY must be at least {_MIN_KEY_BYTES} bytes")
    else:
        log.warning("audit.unkeyed", detail="MPP_AUDIT_KEY is not set: audit entries carry no subject")
    signing = None
    signing_key = _secret(settings, "audit_signing_key")
    if signing_key is not None:
        try:
            signing = load_private_key(signing_key)
        except ValueError as exc:
            raise ValueError(f"MPP_AUDIT_SIGNING_KEY: {exc}") from None
    else:
        log.warning(
            "audit.unsigned", detail="MPP_AUDIT_SIGNING_KEY is not set: no checkpoints, a cut tail goes unnoticed"
        )
    return Auditor(store, key=key, signing_key=signing)
