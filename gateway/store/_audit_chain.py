"""The audit chain's format: the canonical encoding and hash of an entry, chaining, and the rows that hold them.

Both stores (:meth:`Store.append_audit`) and the verifier (:mod:`gateway.audit`) use these, so an entry is hashed
the same way wherever it is written or checked. An entry's hash is SHA-256 over the canonical JSON (sorted keys, times
in UTC with microseconds) of its sequence number, time, actor, action, service, request, subject, outcome and the
previous entry's hash; the first entry's previous hash is :data:`GENESIS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from ._port import AuditCheckpoint, AuditEntry, AuditEvent

__all__ = [
    "AUDIT_COLUMNS",
    "CHECKPOINT_COLUMNS",
    "GENESIS",
    "audit_checkpoint",
    "audit_entry",
    "audit_row",
    "canonical_time",
    "chain_events",
    "entry_hash",
]

#: The ``prev_hash`` of the first entry.
GENESIS = "0" * 64


def canonical_time(at: dt.datetime) -> str:
    """``at`` in UTC as ISO 8601 with microseconds: one spelling per instant, so hashes are reproducible."""
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(seq: int, event: AuditEvent, prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical encoding of an entry: its fields, its sequence number and the previous hash."""
    document = {
        "seq": seq,
        "at": canonical_time(event.at),
        "actor": {"client_id": event.client_id, "mpp_id": event.mpp_id, "desk": event.desk, "operator": event.operator},
        "action": event.action,
        "service": event.service,
        "request_id": event.request_id,
        "subject": event.subject,
        "outcome": event.outcome,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain_events(events: Sequence[AuditEvent], head_seq: int, head_hash: str) -> list[AuditEntry]:
    """``events`` chained after the entry ``(head_seq, head_hash)`` (``(0, GENESIS)`` for an empty log)."""
    entries = []
    for event in events:
        head_seq += 1
        head_hash = entry_hash(head_seq, event, prev := head_hash)
        entries.append(AuditEntry(head_seq, event, prev, head_hash))
    return entries


#: The audit_log columns, in the order of :func:`audit_row` and :func:`audit_entry`.
AUDIT_COLUMNS = (
    "seq, at, client_id, mpp_id, desk, operator, action, service, request_id, subject, outcome, prev_hash, hash"
)
CHECKPOINT_COLUMNS = "seq, hash, at, key_id, signature"


def audit_row(entry: AuditEntry) -> tuple[Any, ...]:
    """An entry as a row of ``audit_log`` (``at`` as a datetime: the stores spell it their way)."""
    e = entry.event
    return (
        entry.seq, e.at, e.client_id, e.mpp_id, e.desk, e.operator, e.action, e.service, e.request_id, e.subject,
        e.outcome, entry.prev_hash, entry.hash,
    )  # fmt: skip


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    """An ``audit_log`` row read back (``at`` as a datetime or ISO text)."""
    seq, at, client_id, mpp_id, desk, operator, action, service, request_id, subject, outcome, prev, digest = row
    when = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
    event = AuditEvent(action, when, client_id, mpp_id, desk, operator, service, request_id, subject, outcome)
    return AuditEntry(seq, event, prev, digest)


def audit_checkpoint(row: Sequence[Any]) -> AuditCheckpoint:
    """An ``audit_checkpoints`` row read back."""
    seq, digest, at, signer, signature = row
    return AuditCheckpoint(seq, digest, dt.datetime.fromisoformat(at) if isinstance(at, str) else at, signer, signature)
