"""The audit chain's format: the canonical encoding and hash of an entry, chaining, rows, checkpoint signatures.

Both stores (:meth:`Store.append_audit`) and the verifier (:mod:`gateway._audit_verify`) use these, so an entry is
hashed the same way wherever it is written or checked. An entry's hash is SHA-256 over the canonical JSON (sorted
keys, times in UTC with microseconds) of its sequence number, time, actor, action, service, request, subject,
outcome and the previous entry's hash; the first entry's previous hash is :data:`GENESIS`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._store import AuditCheckpoint, AuditEntry, AuditEvent

__all__ = [
    "AUDIT_COLUMNS",
    "CHECKPOINT_COLUMNS",
    "GENESIS",
    "audit_checkpoint",
    "audit_entry",
    "audit_row",
    "canonical_time",
    "chain_events",
    "checkpoint_message",
    "entry_hash",
    "key_id",
    "load_private_key",
    "load_public_key",
    "new_keys",
    "public_b64",
    "subject_hash",
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


def subject_hash(key: bytes, nik: str) -> str:
    """The audit subject of a NIK: HMAC-SHA256 under the audit key, hex."""
    return hmac.new(key, nik.encode(), hashlib.sha256).hexdigest()


def checkpoint_message(seq: int, chain_hash: str, at: dt.datetime, signer: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    document = {"seq": seq, "hash": chain_hash, "at": canonical_time(at), "key_id": signer}
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 of its raw 32 bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _raw_b64(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def load_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) or its raw 32 bytes in base64; ``ValueError`` naming no secret."""
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("the audit signing key is not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be an Ed25519 key")
        return key
    raw = _raw_b64(text)
    if raw is None:
        raise ValueError("the audit signing key must be PEM or 32 bytes in base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or its raw 32 bytes in base64."""
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key must be an Ed25519 key")
        return key
    raw = _raw_b64(text)
    if raw is None:
        raise ValueError("the public key must be PEM or 32 bytes in base64")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_b64(public: Ed25519PublicKey) -> str:
    """The raw public key in base64 (what ``audit verify --public-key-b64`` takes)."""
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def new_keys() -> dict[str, str]:
    """A fresh signing key (raw, base64), its public key (base64 and PEM), its key id, and an HMAC audit key."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "signing_key": base64.b64encode(raw).decode(),
        "public_key": public_b64(public),
        "public_key_pem": pem.decode(),
        "key_id": key_id(public),
        "audit_key": secrets.token_urlsafe(32),
    }
