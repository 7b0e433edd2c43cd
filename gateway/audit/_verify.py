"""Verifying the audit chain (``mpp-gateway audit verify``), and the other ``audit`` commands.

The verifier walks the chain in pages, so its memory does not grow with the log, recomputes every hash and stops at
the first entry that is wrong, saying how:

- ``edited``: the stored hash does not match the entry's content;
- ``deleted``: a sequence number is missing (or the entries after a hole were renumbered);
- ``reordered``: the entry does not link to the one before it (its ``prev_hash``), or it was sealed under
  another sequence number;
- ``truncated``: the chain ends before the newest signed checkpoint, or the entry at a checkpoint's sequence number
  does not have the hash the checkpoint signed (the tail was cut and written again);
- ``bad-signature``: a checkpoint's signature does not verify with the public key its key id names;
- ``unsigned``: with a public key given, entries older than the grace (:data:`DEFAULT_UNSIGNED_GRACE`, or three
  checkpoint intervals of the gateway) that no signed checkpoint covers: every checkpoint deleted, or the newest
  ones, so that the tail could be cut or rewritten unseen. The gateway signs its head every interval and at a clean
  shutdown, so a live log's unsigned tail is never older than an interval or so.

A hash chain alone cannot show that its tail was cut off, nor that it was rewritten and hashed again from some
entry on: the signed checkpoints can, so without a public key to check them the report warns, and with one their
absence is a finding.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import dataclasses
import datetime as dt
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..config import Settings
from ..store import (
    GENESIS,
    AuditCheckpoint,
    AuditEntry,
    AuditStore,
    PostgresStore,
    SqliteStore,
    Store,
    StoreError,
    canonical_time,
    describe,
    entry_hash,
)
from ._keys import checkpoint_message, key_id, load_private_key, load_public_key, new_keys, subject_hash

__all__ = [
    "DEFAULT_UNSIGNED_GRACE",
    "ChainVerifier",
    "Finding",
    "Report",
    "add_audit_parser",
    "audit_command",
    "verify_store",
]

#: How far around its place an entry's original sequence number is looked for, to tell a move from an edit.
_WINDOW = 16
#: Seconds an entry may wait for a signed checkpoint before, with a public key given, its absence is a finding.
DEFAULT_UNSIGNED_GRACE = 300.0


@dataclasses.dataclass(frozen=True)
class Finding:
    """The first thing wrong with the chain: where, what kind of tampering, and the evidence."""

    seq: int
    kind: str
    detail: str


@dataclasses.dataclass
class Report:
    """What a verification found."""

    entries: int = 0
    last_seq: int = 0
    head_hash: str = GENESIS
    checkpoints_verified: int = 0
    #: Checkpoints whose hash matched the chain, but whose signature nothing could check (no public key).
    checkpoints_unverified: int = 0
    newest_checkpoint: int = 0
    finding: Finding | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def intact(self) -> bool:
        """True when nothing was found wrong."""
        return self.finding is None

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON object (``--json``)."""
        return {
            "intact": self.intact,
            "entries_checked": self.entries,
            "last_seq": self.last_seq,
            "head_hash": self.head_hash,
            "checkpoints_verified": self.checkpoints_verified,
            "checkpoints_unverified": self.checkpoints_unverified,
            "newest_checkpoint_seq": self.newest_checkpoint,
            "problem": dataclasses.asdict(self.finding) if self.finding else None,
            "warnings": self.warnings,
        }

    def as_text(self) -> str:
        """The report for a person."""
        if self.finding is not None:
            head = f"audit log TAMPERED at seq {self.finding.seq}: {self.finding.kind}: {self.finding.detail}"
        else:
            head = (
                f"audit log intact: {self.entries} entries checked, last seq {self.last_seq}, "
                f"{self.checkpoints_verified} checkpoints verified"
            )
            if self.checkpoints_unverified:
                head += f", {self.checkpoints_unverified} not verified"
        return "\n".join([head, *(f"warning: {w}" for w in self.warnings)])


class ChainVerifier:
    """Checks pages of entries in chain order, and the checkpoints queued in :attr:`pending` as it reaches them."""

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        *,
        unsigned_grace: float = DEFAULT_UNSIGNED_GRACE,
        now: dt.datetime | None = None,
    ) -> None:
        """With ``public_keys``, entries older than ``unsigned_grace`` seconds at ``now`` that no checkpoint covers
        are a finding (``unsigned``); without, a warning."""
        self._keys = dict(public_keys or {})
        self._grace = unsigned_grace
        self._now = now or dt.datetime.now(dt.UTC)
        self.report = Report()
        #: Checkpoints not reached yet, in sequence order.
        self.pending: collections.deque[AuditCheckpoint] = collections.deque()
        self.checkpoints_seen = 0
        #: The first entry after the newest checkpoint so far (``None`` while every entry is covered).
        self._uncovered: AuditEntry | None = None

    def feed(self, page: Sequence[AuditEntry]) -> Finding | None:
        """Check the next entries of the chain; the first finding stops the verification."""
        for i, entry in enumerate(page):
            finding = self._entry(entry, page[i + 1 :]) or self._checkpoints_at(entry)
            if finding is not None:
                self.report.finding = finding
                return finding
            if self.report.newest_checkpoint >= entry.seq:
                self._uncovered = None
            elif self._uncovered is None:
                self._uncovered = entry
        return None

    def end(self, beyond: Sequence[AuditCheckpoint]) -> Finding | None:
        """The chain ended: a checkpoint beyond its last entry means the tail was cut."""
        report = self.report
        if beyond:
            cp = beyond[0]
            self.checkpoints_seen += 1
            if self._signature(cp) is False:
                report.finding = Finding(cp.seq, "bad-signature", self._bad_signature(cp))
            else:
                report.finding = Finding(
                    report.last_seq + 1,
                    "truncated",
                    f"the chain ends at seq {report.last_seq}, but the checkpoint of {canonical_time(cp.at)} "
                    f"vouches for seq {cp.seq}",
                )
            return report.finding
        if (finding := self._unsigned()) is not None:
            report.finding = finding
            return finding
        if not self.checkpoints_seen:
            report.warnings.append(
                "no signed checkpoints: a cut tail cannot be detected (set MPP_AUDIT_SIGNING_KEY on the gateway)"
            )
        elif report.checkpoints_unverified:
            report.warnings.append(
                f"{report.checkpoints_unverified} checkpoints not verified: no public key for them "
                "(--public-key or --public-key-b64)"
            )
        if report.newest_checkpoint < report.last_seq and self.checkpoints_seen:
            report.warnings.append(
                f"entries after seq {report.newest_checkpoint} are not covered by a signed checkpoint yet"
            )
        return None

    def _unsigned(self) -> Finding | None:
        """With a public key: entries past the grace that no checkpoint covers are tampering, not bad luck."""
        first = self._uncovered
        if not self._keys or first is None or (self._now - first.event.at).total_seconds() <= self._grace:
            return None
        since = f"seq {first.seq} on (the first recorded {canonical_time(first.event.at)})"
        if not self.checkpoints_seen:
            detail = (
                f"no signed checkpoint at all, though the entries from {since} are older than {self._grace:g} s: "
                "the checkpoints were deleted, or the gateway runs without MPP_AUDIT_SIGNING_KEY"
            )
        else:
            detail = (
                f"no signed checkpoint covers the entries from {since}, older than {self._grace:g} s: the newest "
                "checkpoints were deleted, or the gateway stopped without a clean shutdown and has not run since "
                "(starting it signs the head; --max-unsigned-age allows more time)"
            )
        return Finding(first.seq, "unsigned", detail)

    def _entry(self, entry: AuditEntry, rest: Sequence[AuditEntry]) -> Finding | None:
        report = self.report
        expected = report.last_seq + 1
        if entry.seq > expected:
            missing = f"seq {expected}" if entry.seq == expected + 1 else f"seqs {expected}-{entry.seq - 1}"
            return Finding(
                expected, "deleted", f"{missing} missing: the chain jumps from {report.last_seq} to {entry.seq}"
            )
        if entry.seq < expected:  # the stores read in sequence order; only a broken store gets here
            return Finding(entry.seq, "reordered", f"seq {entry.seq} comes after seq {report.last_seq}")
        content_ok = entry_hash(entry.seq, entry.event, entry.prev_hash) == entry.hash
        if not (content_ok and entry.prev_hash == report.head_hash):
            return self._diagnose(entry, rest, content_ok)
        report.entries += 1
        report.last_seq, report.head_hash = entry.seq, entry.hash
        return None

    def _diagnose(self, entry: AuditEntry, rest: Sequence[AuditEntry], content_ok: bool) -> Finding:
        seq, previous = entry.seq, self.report.head_hash
        for later in rest:
            if later.prev_hash == previous and entry_hash(seq, later.event, later.prev_hash) == later.hash:
                return Finding(seq, "reordered", f"the entry sealed as seq {seq} is stored at seq {later.seq}")
        if not content_ok:
            sealed = next(
                (
                    s
                    for s in range(max(1, seq - _WINDOW), seq + _WINDOW + 1)
                    if s != seq and entry_hash(s, entry.event, entry.prev_hash) == entry.hash
                ),
                None,
            )
            if sealed is not None and sealed > seq:
                return Finding(
                    seq, "deleted", f"the entry stored at seq {seq} was sealed as seq {sealed}: entries before it "
                    "were removed and the rest renumbered",
                )  # fmt: skip
            if sealed is not None:
                return Finding(seq, "reordered", f"the entry stored at seq {seq} was sealed as seq {sealed}")
            return Finding(seq, "edited", "the stored hash does not match the entry's content")
        return Finding(
            seq, "reordered", f"prev_hash does not link to the hash of seq {seq - 1}: an entry before it was replaced, "
            "or entries were moved",
        )  # fmt: skip

    def _checkpoints_at(self, entry: AuditEntry) -> Finding | None:
        report = self.report
        while self.pending and self.pending[0].seq <= entry.seq:
            cp = self.pending.popleft()
            self.checkpoints_seen += 1
            signed = self._signature(cp)
            if signed is False:
                return Finding(cp.seq, "bad-signature", self._bad_signature(cp))
            if cp.seq != entry.seq or cp.hash != entry.hash:
                return Finding(
                    cp.seq, "truncated", f"the entry at seq {cp.seq} does not have the hash the checkpoint of "
                    f"{canonical_time(cp.at)} signed: the chain was cut and written again from here or earlier",
                )  # fmt: skip
            if signed:
                report.checkpoints_verified += 1
            else:
                report.checkpoints_unverified += 1
            report.newest_checkpoint = cp.seq
        return None

    def _signature(self, cp: AuditCheckpoint) -> bool | None:
        """True or False when a public key can check it; ``None`` without any public key."""
        if not self._keys:
            return None
        key = self._keys.get(cp.key_id)
        if key is None:
            return False
        try:
            key.verify(
                base64.b64decode(cp.signature, validate=True), checkpoint_message(cp.seq, cp.hash, cp.at, cp.key_id)
            )
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def _bad_signature(self, cp: AuditCheckpoint) -> str:
        if cp.key_id not in self._keys:
            return f"the checkpoint of {canonical_time(cp.at)} names key {cp.key_id!r}, which is not a given public key"
        return f"the signature of the checkpoint of {canonical_time(cp.at)} does not verify with key {cp.key_id}"


async def verify_store(
    store: AuditStore,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    *,
    page_size: int = 1000,
    unsigned_grace: float = DEFAULT_UNSIGNED_GRACE,
) -> Report:
    """Walk the store's whole audit chain and its checkpoints, ``page_size`` rows at a time (``unsigned_grace``:
    see :class:`ChainVerifier`)."""
    verifier = ChainVerifier(public_keys, unsigned_grace=unsigned_grace)
    after = checkpoints_after = 0
    checkpoints_done = False
    while page := await store.audit_entries(after, page_size):
        while not checkpoints_done and (not verifier.pending or verifier.pending[-1].seq < page[-1].seq):
            more = await store.audit_checkpoints(checkpoints_after, page_size)
            if not more:
                checkpoints_done = True
                break
            verifier.pending.extend(more)
            checkpoints_after = more[-1].seq
        if verifier.feed(page) is not None:
            return verifier.report
        after = page[-1].seq
    beyond: list[AuditCheckpoint] = list(verifier.pending)
    if not beyond and not checkpoints_done:
        beyond = await store.audit_checkpoints(checkpoints_after, 1)
    verifier.end(beyond)
    return verifier.report


def add_audit_parser(sub: Any) -> None:
    """Add ``audit verify|keygen|subject`` to the ``mpp-gateway`` command line."""
    audit = sub.add_parser("audit", help="the audit log: verify the chain, make a signing key, hash a subject")
    actions = audit.add_subparsers(dest="audit_action", required=True)
    verify = actions.add_parser(
        "verify", help="check every entry and signed checkpoint of the configured store's audit log"
    )
    verify.add_argument("--public-key", action="append", default=[], metavar="FILE",
                        help="the checkpoints' public key, PEM or base64 (repeat for rotated keys)")  # fmt: skip
    verify.add_argument("--public-key-b64", action="append", default=[], metavar="KEY",
                        help="the checkpoints' public key as base64 of its 32 bytes (repeatable)")  # fmt: skip
    verify.add_argument("--json", action="store_true", help="print the report as one JSON line")
    verify.add_argument("--page-size", type=int, default=1000, help="entries read per query")
    verify.add_argument("--max-unsigned-age", type=float, default=None, metavar="SECONDS",
                        help="with a public key, entries older than this that no signed checkpoint covers are "
                             "tampering (default: three checkpoint intervals, at least 300)")  # fmt: skip
    actions.add_parser("keygen", help="print a new checkpoint signing key, its public key, and an audit key")
    actions.add_parser("subject", help="print the subject hash of each NIK read from stdin (uses MPP_AUDIT_KEY)")


def audit_command(args: argparse.Namespace) -> int:
    """Run ``mpp-gateway audit <action>``: 0 done (chain intact), 1 chain tampered, 2 usage or configuration error."""
    if args.audit_action == "keygen":
        print(orjson.dumps(new_keys()).decode())
        return 0
    try:
        settings = Settings.from_env(os.environ)
        if args.audit_action == "subject":
            return _subjects(settings)
        keys, note = _public_keys(settings, args.public_key, args.public_key_b64)
        if args.page_size < 1:
            raise ValueError("--page-size must be at least 1")
        grace = args.max_unsigned_age
        if grace is None:
            grace = max(DEFAULT_UNSIGNED_GRACE, 3 * settings.audit_checkpoint_seconds)
        if grace < 0:
            raise ValueError("--max-unsigned-age must not be negative")
        if not settings.store_dsn and not Path(settings.store_path).is_file():
            raise ValueError(f"{describe(settings)}: no such file (set MPP_STORE_PATH or MPP_STORE_DSN)")
    except (OSError, ValueError) as exc:  # messages name settings and files, never a key
        print(f"mpp-gateway audit {args.audit_action}: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_verify(settings, keys, args.page_size, grace))
    except (StoreError, OSError) as exc:
        print(f"mpp-gateway audit verify: {describe(settings)}: {exc}", file=sys.stderr)
        return 2
    if note:
        report.warnings.insert(0, note)
    print(orjson.dumps(report.as_json()).decode() if args.json else report.as_text())
    return 0 if report.intact else 1


def _public_keys(
    settings: Settings, files: Sequence[str], encoded: Sequence[str]
) -> tuple[dict[str, Ed25519PublicKey], str | None]:
    texts = [Path(path).read_text(encoding="utf-8") for path in files] + list(encoded)
    keys = [load_public_key(text) for text in texts]
    note = None
    if not keys:
        secret = settings.audit_signing_key
        if secret is None and settings.audit_signing_key_file:
            secret = Path(settings.audit_signing_key_file).read_text(encoding="utf-8")
        if secret is not None:
            try:
                keys = [load_private_key(secret).public_key()]
            except ValueError as exc:
                raise ValueError(f"MPP_AUDIT_SIGNING_KEY: {exc}") from None
            note = "checkpoints checked with the public half of the configured MPP_AUDIT_SIGNING_KEY"
    return {key_id(key): key for key in keys}, note


async def _verify(settings: Settings, keys: Mapping[str, Ed25519PublicKey], page_size: int, grace: float) -> Report:
    dsn = settings.store_dsn
    store: Store = PostgresStore(dsn, pool_size=2) if dsn else SqliteStore(settings.store_path)
    await store.open()
    try:
        return await verify_store(store, keys, page_size=page_size, unsigned_grace=grace)
    finally:
        await store.aclose()


def _subjects(settings: Settings) -> int:
    secret = settings.audit_key
    if secret is None and settings.audit_key_file:
        secret = Path(settings.audit_key_file).read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError("set MPP_AUDIT_KEY (or MPP_AUDIT_KEY_FILE) to the gateway's audit key")
    # NIKs come on stdin, never as arguments: those show in process lists and shell history.
    for line in sys.stdin:
        if nik := line.strip():
            print(subject_hash(secret.encode(), nik))
    return 0
