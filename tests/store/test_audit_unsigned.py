"""Deleted checkpoints: with a public key given, entries no signed checkpoint covers past the grace are tampering."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway import SqliteStore, Store
from gateway.audit import Auditor, verify_store
from gateway.cli import main
from tests.store.support import Backend
from tests.store.test_audit_store import KEYS, SIGNER, chain_of, event, execute

#: The test chains were written a minute ago: a grace of 30 s makes their unsigned entries overdue.
OVERDUE = 30.0


async def test_every_checkpoint_deleted_is_tampering_with_a_key(backend: Backend, store: Store) -> None:
    """Entries but no checkpoint at all, the entries older than the grace: a finding at seq 1, not a warning."""
    await chain_of(store, 8, checkpoint_at=6)
    assert (await verify_store(store, KEYS, unsigned_grace=OVERDUE)).intact is False  # 7 and 8 are overdue too
    await execute(backend, "DELETE FROM audit_checkpoints")
    report = await verify_store(store, KEYS, unsigned_grace=OVERDUE)
    assert report.finding is not None and (report.finding.seq, report.finding.kind) == (1, "unsigned")
    assert "no signed checkpoint at all" in report.finding.detail


async def test_the_newest_checkpoints_deleted_is_tampering_with_a_key(backend: Backend, store: Store) -> None:
    """Checkpoints at 3 and 6, the one at 6 deleted: the entries from 4 on are unsigned past the grace."""
    await chain_of(store, 3, checkpoint_at=3)
    await chain_of_more(store, 4, 6)
    assert (await verify_store(store, KEYS, unsigned_grace=OVERDUE)).intact
    await execute(backend, "DELETE FROM audit_checkpoints WHERE seq = 6")
    report = await verify_store(store, KEYS, unsigned_grace=OVERDUE)
    assert report.finding is not None and (report.finding.seq, report.finding.kind) == (4, "unsigned")


async def chain_of_more(store: Store, low: int, high: int) -> None:
    """Entries ``low``..``high`` appended, then the head signed."""
    await store.append_audit([event(n) for n in range(low, high + 1)])
    assert await Auditor(store, signing_key=SIGNER).checkpoint() is not None


async def test_an_unsigned_tail_within_the_grace_or_without_a_key_is_a_warning(backend: Backend, store: Store) -> None:
    """A tail younger than the grace (the next checkpoint is due), or no key to check with: intact, with a warning."""
    await chain_of(store, 8, checkpoint_at=6)
    await execute(backend, "DELETE FROM audit_checkpoints")
    young = await verify_store(store, KEYS)  # the default grace, five minutes
    keyless = await verify_store(store, None, unsigned_grace=OVERDUE)
    assert young.intact and keyless.intact
    assert "no signed checkpoints" in young.warnings[0] and "no signed checkpoints" in keyless.warnings[0]


async def test_verify_with_a_key_and_no_checkpoints_exits_1_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`audit verify --public-key-b64 KEY` on a log whose checkpoints were all deleted exits 1 and says why."""
    path = tmp_path / "gateway.sqlite3"
    store = SqliteStore(path)
    await store.open()
    try:
        await chain_of(store, 5, checkpoint_at=5)
        await store._writer.submit(lambda c: c.execute("DELETE FROM audit_checkpoints"))  # type: ignore[union-attr]
    finally:
        await store.aclose()
    public = base64.b64encode(SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.delenv("MPP_AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(path))
    code = await asyncio.to_thread(
        main, ["audit", "verify", "--public-key-b64", public, "--max-unsigned-age", str(OVERDUE)]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    assert "audit log TAMPERED at seq 1: unsigned: no signed checkpoint at all" in out, out
    assert await asyncio.to_thread(main, ["audit", "verify", "--public-key-b64", public]) == 0  # within the grace
    assert "warning: no signed checkpoints" in capsys.readouterr().out
