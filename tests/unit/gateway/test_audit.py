"""The audit log: chain format, subjects, keys, the auditor's batching and checkpoints, the verifier, the API hooks."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from adapters import AgencyRejected
from gateway import Settings, SqliteStore
from gateway.audit import (
    Auditor,
    ChainVerifier,
    build_auditor,
    checkpoint_message,
    key_id,
    load_private_key,
    load_public_key,
    new_keys,
    subject_hash,
    verify_store,
)
from gateway.http import STATE
from gateway.store import GENESIS, AuditCheckpoint, AuditEntry, AuditEvent, StoreError, chain_events, entry_hash
from tests.fakes import KEY_A, KEY_B, KEY_NARROW, NIK, FakeAdapter, consent_given_at, envelope

AUDIT_KEY = "audit-key-of-the-unit-tests-0123456789"
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SIGNER_B64 = base64.b64encode(bytes(range(32))).decode()
KEYS = {key_id(SIGNER.public_key()): SIGNER.public_key()}
AT = dt.datetime(2026, 1, 6, 1, 2, 3, 456789, tzinfo=dt.UTC)
EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)
WAIT_A = {"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}
CONSENT = {"method": "written", "reference": "FORM-1", "given_at": consent_given_at()}
EVENT = AuditEvent("request.accepted", AT, "counter-a", "mpp-a", "loket-01", "op-7", "fake.thing.lookup", "req_1",
                   "ab" * 32, "ok")  # fmt: skip


class MemoryStore:
    """The audit part of the store port, in memory; ``fail`` makes the next appends raise."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.checkpoints: dict[int, AuditCheckpoint] = {}
        self.calls: list[int] = []
        self.fail = 0

    async def append_audit(self, events: list[AuditEvent]) -> list[AuditEntry]:
        await asyncio.sleep(0.001)  # a commit takes time: what arrives meanwhile waits for the next append
        if self.fail:
            self.fail -= 1
            raise OSError("database gone")
        head = self.entries[-1] if self.entries else None
        sealed = chain_events(events, head.seq if head else 0, head.hash if head else GENESIS)
        self.entries.extend(sealed)
        self.calls.append(len(events))
        return sealed

    async def audit_entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        return [e for e in self.entries if e.seq > after_seq][:limit]

    async def audit_head(self) -> AuditEntry | None:
        return self.entries[-1] if self.entries else None

    async def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> bool:
        return self.checkpoints.setdefault(checkpoint.seq, checkpoint) is checkpoint

    async def audit_checkpoints(self, after_seq: int, limit: int) -> list[AuditCheckpoint]:
        return [c for s, c in sorted(self.checkpoints.items()) if s > after_seq][:limit]


def test_entry_hash_is_sha256_of_the_documented_canonical_encoding() -> None:
    """The hash is SHA-256 of sorted-key JSON of the fields, actor nested, time in UTC with microseconds."""
    canonical = (
        '{"action":"request.accepted","actor":{"client_id":"counter-a","desk":"loket-01","mpp_id":"mpp-a",'
        '"operator":"op-7"},"at":"2026-01-06T01:02:03.456789+00:00","outcome":"ok","prev_hash":"' + GENESIS + '",'
        '"request_id":"req_1","seq":1,"service":"fake.thing.lookup","subject":"' + "ab" * 32 + '"}'
    )
    expected = "242725e38b302425e9cff50bfe19e09e8269feddcac836861bfbd7b7f49b30cf"
    assert hashlib.sha256(canonical.encode()).hexdigest() == expected
    assert entry_hash(1, EVENT, GENESIS) == expected
    local = dataclasses.replace(EVENT, at=AT.astimezone(dt.timezone(dt.timedelta(hours=7))))
    assert entry_hash(1, local, GENESIS) == expected  # one instant, one hash, whatever the offset it was given in


@pytest.mark.parametrize(
    "change",
    [
        {"action": "request.read"},
        {"at": AT + dt.timedelta(microseconds=1)},
        {"client_id": "counter-b"},
        {"mpp_id": "mpp-b"},
        {"desk": "loket-02"},
        {"operator": None},
        {"service": "fake.thing.submit"},
        {"request_id": "req_2"},
        {"subject": "cd" * 32},
        {"outcome": "forbidden"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_field_is_covered_by_the_hash(change: dict[str, Any]) -> None:
    """Changing any one field of an entry changes its hash."""
    assert entry_hash(1, dataclasses.replace(EVENT, **change), GENESIS) != entry_hash(1, EVENT, GENESIS)


def test_chaining_numbers_and_links_entries() -> None:
    """Entries after a head continue its numbering and each carries the hash before it; seq is hashed too."""
    entries = chain_events([EVENT, EVENT, EVENT], 41, "f" * 64)
    assert [e.seq for e in entries] == [42, 43, 44]
    assert [e.prev_hash for e in entries] == ["f" * 64, entries[0].hash, entries[1].hash]
    assert len({e.hash for e in entries}) == 3


def test_subject_is_a_keyed_hash_that_never_shows_the_nik() -> None:
    """Same NIK and key, same subject; another key, another subject; no subject without a key or a NIK."""
    auditor = Auditor(MemoryStore(), key=AUDIT_KEY.encode())  # type: ignore[arg-type]
    subject = auditor.subject(NIK)
    assert subject == hmac.new(AUDIT_KEY.encode(), NIK.encode(), hashlib.sha256).hexdigest()
    assert subject == subject_hash(AUDIT_KEY.encode(), NIK) and NIK not in (subject or "")
    assert subject != subject_hash(b"another-audit-key-0000", NIK)
    assert (Auditor(MemoryStore()).subject(NIK), auditor.subject(None), auditor.subject("")) == (None, None, None)  # type: ignore[arg-type]
    assert AUDIT_KEY not in repr(auditor) and SIGNER_B64 not in repr(Auditor(None, signing_key=SIGNER))


def test_signing_keys_load_from_pem_or_base64() -> None:
    """A PKCS#8 PEM private key and the raw 32 bytes in base64 are the same key; so are the public forms."""
    pem = SIGNER.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert key_id(load_private_key(pem.decode()).public_key()) == key_id(load_private_key(SIGNER_B64).public_key())
    keys = new_keys()
    assert (
        key_id(load_public_key(keys["public_key"])) == key_id(load_public_key(keys["public_key_pem"])) == keys["key_id"]
    )
    assert key_id(load_private_key(keys["signing_key"]).public_key()) == keys["key_id"]


@pytest.mark.parametrize(
    "text",
    [
        "not-base64!!",
        base64.b64encode(b"short").decode(),
        "-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----",
        EC_PEM,
    ],
    ids=["not-base64", "wrong-length", "broken-pem", "not-ed25519"],
)
def test_a_bad_signing_key_is_refused_without_echoing_it(text: str) -> None:
    """An unusable key is a configuration error naming the setting, never containing the key."""
    with pytest.raises(ValueError, match="MPP_AUDIT_SIGNING_KEY") as caught:
        build_auditor(Settings(audit_signing_key=text), MemoryStore())  # type: ignore[arg-type]
    assert text.strip() not in str(caught.value)


@pytest.fixture
def fresh_audit_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """An uncached logger for gateway.audit, so capture_logs sees its events whatever ran before."""
    monkeypatch.setattr("gateway.audit._log.log", structlog.get_logger("gateway.audit"))


@pytest.mark.usefixtures("fresh_audit_logger")
def test_keys_come_from_the_environment_or_secret_files(tmp_path: Path) -> None:
    """MPP_AUDIT_KEY_FILE and MPP_AUDIT_SIGNING_KEY_FILE are read; a short audit key is refused; unset keys warn."""
    (tmp_path / "audit").write_text(AUDIT_KEY + "\n")
    (tmp_path / "signing").write_text(SIGNER_B64 + "\n")
    settings = Settings.from_env({"MPP_AUDIT_KEY_FILE": str(tmp_path / "audit"),
                                  "MPP_AUDIT_SIGNING_KEY_FILE": str(tmp_path / "signing"),
                                  "MPP_AUDIT_CHECKPOINT_SECONDS": "5"})  # fmt: skip
    assert settings.audit_checkpoint_seconds == 5 and AUDIT_KEY not in repr(settings)
    auditor = build_auditor(settings, MemoryStore())  # type: ignore[arg-type]
    assert auditor.subject(NIK) == subject_hash(AUDIT_KEY.encode(), NIK)
    assert f"signing={key_id(SIGNER.public_key())}" in repr(auditor)
    with pytest.raises(ValueError, match="MPP_AUDIT_KEY must be at least 16 bytes"):
        build_auditor(Settings(audit_key="short"), MemoryStore())  # type: ignore[arg-type]
    with capture_logs() as logs:
        build_auditor(Settings(), MemoryStore())  # type: ignore[arg-type]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["audit.unkeyed", "audit.unsigned"]


async def test_records_made_meanwhile_share_one_append_in_call_order() -> None:
    """While one append is under way, what is recorded waits and goes into the next one: few appends, in order."""
    store = MemoryStore()
    auditor = Auditor(store)  # type: ignore[arg-type]
    events = [dataclasses.replace(EVENT, request_id=f"req_{i}") for i in range(100)]
    await asyncio.gather(*(auditor.record(e) for e in events))
    assert [e.event.request_id for e in store.entries] == [f"req_{i}" for i in range(100)]
    assert sum(store.calls) == 100 and len(store.calls) <= 3


@pytest.mark.usefixtures("fresh_audit_logger")
async def test_a_failed_append_is_retried_then_reported() -> None:
    """A transient failure is retried with the same entries; a lasting one fails the caller's future and is logged."""
    store = MemoryStore()
    auditor = Auditor(store, retry_delay=0)  # type: ignore[arg-type]
    store.fail = 1
    await auditor.record(EVENT)
    assert [e.seq for e in store.entries] == [1]
    store.fail = 3
    with capture_logs() as logs, pytest.raises(StoreError, match="could not be written"):
        await auditor.record(EVENT)
    assert [e["event"] for e in logs] == ["audit.append_failed"] * 3
    assert all(NIK not in str(e) for e in logs)
    await auditor.record(EVENT)  # and it recovers
    assert [e.seq for e in store.entries] == [1, 2]


async def test_checkpoints_sign_the_head_once_and_only_with_a_key() -> None:
    """A checkpoint signs (seq, hash, at) of the head; none without news or without a signing key."""
    store = MemoryStore()
    assert await Auditor(store).checkpoint() is None  # type: ignore[arg-type]
    auditor = Auditor(store, signing_key=SIGNER, clock=lambda: AT)  # type: ignore[arg-type]
    assert await auditor.checkpoint() is None  # an empty log
    await auditor.record(EVENT, EVENT)
    checkpoint = await auditor.checkpoint()
    assert checkpoint is not None and (checkpoint.seq, checkpoint.hash, checkpoint.at) == (2, store.entries[1].hash, AT)
    assert await auditor.checkpoint() is None
    report = await verify_store(store, KEYS)  # type: ignore[arg-type]
    assert (report.intact, report.checkpoints_verified, report.warnings) == (True, 1, [])


async def test_the_checkpoint_timer_signs_periodically_and_at_close() -> None:
    """start() signs every interval while records arrive; aclose() flushes and signs the final head."""
    store = MemoryStore()
    auditor = Auditor(store, signing_key=SIGNER)  # type: ignore[arg-type]
    auditor.start(0.01)
    await auditor.record(EVENT)
    for _ in range(100):
        if store.checkpoints:
            break
        await asyncio.sleep(0.01)
    assert list(store.checkpoints) == [1]
    pending = auditor.record(EVENT, EVENT)
    await auditor.aclose()
    assert pending.done() and sorted(store.checkpoints) == [1, 3]


def _chain(count: int) -> list[AuditEntry]:
    return chain_events([dataclasses.replace(EVENT, request_id=f"req_{n}") for n in range(1, count + 1)], 0, GENESIS)


def _signed(entry: AuditEntry, signer: Ed25519PrivateKey = SIGNER) -> AuditCheckpoint:
    kid = key_id(signer.public_key())
    signature = signer.sign(checkpoint_message(entry.seq, entry.hash, AT, kid))
    return AuditCheckpoint(entry.seq, entry.hash, AT, kid, base64.b64encode(signature).decode())


def _renumbered(entries: list[AuditEntry]) -> list[AuditEntry]:
    kept = entries[:2] + entries[3:]
    return [dataclasses.replace(e, seq=i) for i, e in enumerate(kept, 1)]


def _relinked(entries: list[AuditEntry]) -> list[AuditEntry]:
    rebuilt = chain_events([entries[2].event], 2, "e" * 64)[0]
    return [*entries[:2], rebuilt, *entries[3:]]


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        (lambda es: es[:2] + es[4:], 3, "deleted"),
        (_renumbered, 3, "deleted"),
        (
            lambda es: [*es[:3], dataclasses.replace(es[4], seq=4), dataclasses.replace(es[3], seq=5), *es[5:]],
            4,
            "reordered",
        ),
        (lambda es: [*es[:3], dataclasses.replace(es[4], seq=4), *es[4:]], 4, "deleted"),
        (lambda es: [*es[:4], dataclasses.replace(es[1], seq=5), *es[5:]], 5, "reordered"),
        (_relinked, 3, "reordered"),
        (
            lambda es: [
                *es[:1],
                dataclasses.replace(es[1], event=dataclasses.replace(es[1].event, subject=None)),
                *es[2:],
            ],
            2,
            "edited",
        ),
    ],
    ids=["gap", "gap-renumbered", "swapped", "overwritten-by-a-later-one", "moved-back", "relinked", "subject-erased"],
)
def test_the_verifier_names_the_first_bad_entry(tamper: Any, seq: int, kind: str) -> None:
    """Each kind of damage to a chain of six is reported at the first entry concerned."""
    verifier = ChainVerifier(KEYS)
    finding = verifier.feed(tamper(_chain(6)))
    assert finding is not None and (finding.seq, finding.kind) == (seq, kind), finding


@pytest.mark.parametrize(
    ("checkpoint", "kind"),
    [
        (lambda e: dataclasses.replace(_signed(e), signature=_signed(_chain(6)[0]).signature), "bad-signature"),
        (lambda e: dataclasses.replace(_signed(e), signature="%%%"), "bad-signature"),
        (lambda e: _signed(e, Ed25519PrivateKey.generate()), "bad-signature"),
        (lambda e: dataclasses.replace(_signed(e), hash="0" * 64), "bad-signature"),
        (lambda e: _signed(dataclasses.replace(e, hash="0" * 64)), "truncated"),
    ],
    ids=["signature-of-another-head", "signature-not-base64", "unknown-key", "hash-changed", "signed-other-hash"],
)
def test_checkpoints_are_checked_where_the_chain_reaches_them(checkpoint: Any, kind: str) -> None:
    """A checkpoint whose signature fails, or that signed a hash the chain does not have, is a finding at its seq."""
    entries = _chain(6)
    verifier = ChainVerifier(KEYS)
    verifier.pending.append(checkpoint(entries[3]))
    finding = verifier.feed(entries)
    assert finding is not None and (finding.seq, finding.kind) == (4, kind), finding


def test_unverifiable_checkpoints_and_their_absence_are_warned_about() -> None:
    """Without checkpoints verify warns that a cut tail goes unseen; without a public key, that they went unchecked."""
    entries = _chain(3)
    bare = ChainVerifier(KEYS, now=AT)  # entries just written: their checkpoint may still come
    assert bare.feed(entries) is None and bare.end([]) is None
    assert bare.report.intact and "no signed checkpoints" in bare.report.warnings[0]
    keyless = ChainVerifier()
    keyless.pending.append(_signed(entries[1]))
    assert keyless.feed(entries) is None and keyless.end([]) is None
    assert (keyless.report.checkpoints_verified, keyless.report.checkpoints_unverified) == (0, 1)
    assert "not verified" in keyless.report.warnings[0] and "seq 2" in keyless.report.warnings[1]
    assert "1 not verified" in keyless.report.as_text()


# The API: the app of tests/conftest.py, with an audit key and a signing key.


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    """The shared test settings plus the audit key and checkpoint signing key."""
    return dataclasses.replace(gateway_settings, audit_key=AUDIT_KEY, audit_signing_key=SIGNER_B64)


async def entries_of(client: TestClient[Any, Any]) -> list[AuditEntry]:
    return await client.app[STATE].store.audit_entries(0, 10_000)


def actor(entry: AuditEntry) -> tuple[str | None, ...]:
    e = entry.event
    return (e.action, e.client_id, e.mpp_id, e.desk, e.operator, e.service, e.request_id, e.subject, e.outcome)


async def test_a_request_is_audited_when_accepted_finished_and_read(gateway_client: TestClient[Any, Any]) -> None:
    """Acceptance and completion carry the counter and the NIK's keyed hash; reads of the result are recorded too."""
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT_A)
    body = await resp.json()
    assert (resp.status, body["status"]) == (200, "completed")
    subject = subject_hash(AUDIT_KEY.encode(), NIK)
    counter = ("counter-a", "mpp-a", "loket-01", "op-7", "fake.thing.lookup", body["id"], subject, "ok")
    assert [actor(e) for e in await entries_of(gateway_client)] == [
        ("request.accepted", *counter),
        ("request.completed", *counter),
    ]
    await gateway_client.get(f"/v1/requests/{body['id']}", headers={"Authorization": f"Bearer {KEY_A}"})
    read = ("request.read", "counter-a", "mpp-a", None, None, "fake.thing.lookup", body["id"], subject, "ok")
    assert actor((await entries_of(gateway_client))[-1]) == read
    submit = envelope("fake.thing.submit")
    first = await gateway_client.post("/v1/requests", json=submit, headers={**WAIT_A, "Idempotency-Key": "k-1"})
    replay = await gateway_client.post("/v1/requests", json=submit, headers={**WAIT_A, "Idempotency-Key": "k-1"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    submitted = (await first.json())["id"]
    assert [(e.event.action, e.event.request_id) for e in (await entries_of(gateway_client))[3:]] == [
        ("request.accepted", submitted),
        ("request.completed", submitted),
        ("request.read", submitted),
    ]  # a replay is no new acceptance, but it hands the result out again
    assert NIK not in repr(await entries_of(gateway_client))


async def test_event_streams_are_audited_like_reads(gateway_client: TestClient[Any, Any]) -> None:
    """Opening a request's event stream hands its result out: a request.read entry; another client's try is denied."""
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT_A)
    request_id = (await resp.json())["id"]
    own = await gateway_client.get(f"/v1/requests/{request_id}/events", headers={"Authorization": f"Bearer {KEY_A}"})
    await own.read()
    peek = await gateway_client.get(f"/v1/requests/{request_id}/events", headers={"Authorization": f"Bearer {KEY_B}"})
    assert (own.status, peek.status) == (200, 404)
    subject = subject_hash(AUDIT_KEY.encode(), NIK)
    assert [actor(e) for e in await entries_of(gateway_client)][2:] == [
        ("request.read", "counter-a", "mpp-a", None, None, "fake.thing.lookup", request_id, subject, "ok"),
        ("access.denied", "counter-b", "mpp-b", None, None, "fake.thing.lookup", request_id, subject, "not-visible"),
    ]


async def test_refusals_and_rejections_are_audited(
    gateway_client: TestClient[Any, Any], fake_adapter: FakeAdapter
) -> None:
    """Refused services or MPPs (403) and reads of another client's request are access.denied; rejections recorded."""
    fake_adapter.script = [AgencyRejected("no such thing", agency="fake", code="13", slug="thing-not-found")]
    resp = await gateway_client.post("/v1/requests", json=envelope(), headers=WAIT_A)
    request_id = (await resp.json())["id"]
    narrow = await gateway_client.post(
        "/v1/requests",
        json=envelope("fake.person.read", consent=CONSENT),
        headers={"Authorization": f"Bearer {KEY_NARROW}"},
    )
    elsewhere = {"mpp_id": "mpp-b", "desk": "d", "operator": "o"}
    other_mpp = await gateway_client.post(
        "/v1/requests", json=envelope(counter=elsewhere), headers={"Authorization": f"Bearer {KEY_A}"}
    )
    peek = await gateway_client.get(f"/v1/requests/{request_id}", headers={"Authorization": f"Bearer {KEY_B}"})
    own = await gateway_client.get(f"/v1/requests/{request_id}", headers={"Authorization": f"Bearer {KEY_A}"})
    assert (narrow.status, other_mpp.status, peek.status, own.status) == (403, 403, 404, 200)  # own: no result, no read
    subject = subject_hash(AUDIT_KEY.encode(), NIK)
    lookup, person = "fake.thing.lookup", "fake.person.read"
    assert [actor(e) for e in await entries_of(gateway_client)][1:] == [
        ("request.rejected", "counter-a", "mpp-a", "loket-01", "op-7", lookup, request_id, subject, "thing-not-found"),
        ("access.denied", "kiosk", "mpp-a", "loket-01", "op-7", person, None, subject, "service-not-granted"),
        ("access.denied", "counter-a", "mpp-b", "d", "o", lookup, None, subject, "mpp-not-granted"),
        ("access.denied", "counter-b", "mpp-b", None, None, lookup, request_id, subject, "not-visible"),
    ]


async def test_concurrent_requests_leave_a_gapless_valid_chain_signed_at_shutdown(
    gateway_client: TestClient[Any, Any], gateway_settings: Settings
) -> None:
    """Forty requests at once: each accepted before completed, one gapless chain, its head signed on a clean close."""
    answers = await asyncio.gather(
        *(gateway_client.post("/v1/requests", json=envelope(), headers=WAIT_A) for _ in range(40))
    )
    ids = [(await r.json())["id"] for r in answers]
    entries = await entries_of(gateway_client)
    order = [(e.event.request_id, e.event.action) for e in entries]
    assert [e.seq for e in entries] == list(range(1, 81))
    assert all(order.index((i, "request.accepted")) < order.index((i, "request.completed")) for i in ids)
    await gateway_client.close()
    reopened = SqliteStore(gateway_settings.store_path)
    await reopened.open()
    try:
        report = await verify_store(reopened, KEYS, page_size=16)
    finally:
        await reopened.aclose()
    assert (report.intact, report.last_seq, report.newest_checkpoint, report.checkpoints_verified) == (True, 80, 80, 1)
