"""Agency documents on every store: history and latest, sealing at rest, retention, one agency's view, and the
upgrade (migration 0006) of a database holding OSS NIB pushes in the old oss_nib table."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from adapters import AgencyDocuments, InboundRequest, ReceivedDocument
from adapters.oss.inbound import NibInbound
from gateway import PostgresStore, SqliteStore, Store
from gateway.store import (
    KeyRing,
    ScopedDocuments,
    SealedDataError,
    StoredDocument,
    migrations,
    postgres_upgrade,
    purge_expired,
    seal_json,
)
from tests.postgres import PostgresServer
from tests.sealed import flip_ciphertext
from tests.store.support import OLD, Backend, Raw

NIB, OTHER_NIB = "9120001234561", "9120001234562"
NIK, NAME = "3201014708900001", "SITI AMINAH BINTI SUPARDI"
DATA = {"nib": NIB, "nama_perseroan": "PT MAJU", "penanggung_jwb": [{"nama": NAME, "nik": NIK}]}
T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


async def test_every_save_is_history_and_the_last_is_the_latest(store: Store) -> None:
    """Saves of one key come back in the order saved; latest is the last saved, even with an earlier time."""
    assert await store.latest_document("oss", "nib", NIB) is None
    assert await store.document_history("oss", "nib", NIB) == []
    await store.save_document("oss", "nib", NIB, {"v": 1}, received_at=at(1))
    await store.save_document("oss", "nib", NIB, {"v": 2}, received_at=at(2))
    await store.save_document("oss", "nib", NIB, {"v": 3}, received_at=at(0))  # an old version resent: the latest
    history = await store.document_history("oss", "nib", NIB)
    assert [(d.document, d.received_at) for d in history] == [({"v": 1}, at(1)), ({"v": 2}, at(2)), ({"v": 3}, at(0))]
    assert await store.latest_document("oss", "nib", NIB) == StoredDocument("oss", "nib", NIB, {"v": 3}, at(0))


async def test_agencies_kinds_and_keys_are_apart(store: Store) -> None:
    """A document is found only under its own agency, kind and key."""
    await store.save_document("oss", "nib", NIB, {"who": "oss nib"}, received_at=T0)
    await store.save_document("oss", "permit", NIB, {"who": "oss permit"}, received_at=T0)
    await store.save_document("bpjs", "nib", NIB, {"who": "bpjs nib"}, received_at=T0)
    await store.save_document("oss", "nib", OTHER_NIB, {"who": "other"}, received_at=T0)
    wheres = [("oss", "nib", NIB), ("oss", "permit", NIB), ("bpjs", "nib", NIB), ("oss", "nib", OTHER_NIB)]
    found = [await store.latest_document(*where) for where in wheres]
    assert [d.document["who"] if d else None for d in found] == ["oss nib", "oss permit", "bpjs nib", "other"]
    assert [len(await store.document_history("oss", "nib", k)) for k in (NIB, OTHER_NIB, "0000")] == [1, 1, 0]


async def test_documents_come_back_exactly_and_survive_reopening(backend: Backend) -> None:
    """NUL escapes, non-ASCII, key order, numbers and the aware arrival time read back as saved, after a reopen."""
    document = {"z": "Siti\u0000 Aminah ✓", "a": [1, 2.5, None, True], "nested": {"b": {}, "a": []}}
    received = dt.datetime(2026, 1, 6, 7, 2, 3, 456789, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    first = backend.make()
    await first.open()
    await first.save_document("oss", "nib", NIB, document, received_at=received)
    await first.aclose()
    second = backend.make()
    await second.open()
    try:
        found = await second.latest_document("oss", "nib", NIB)
    finally:
        await second.aclose()
    assert found is not None and found.document == document and list(found.document) == ["z", "a", "nested"]
    assert found.received_at == received and found.received_at.utcoffset() is not None


async def test_a_time_without_its_zone_is_refused(store: Store) -> None:
    """A naive received_at could not be ordered against the others: ValueError, nothing saved."""
    with pytest.raises(ValueError, match="time zone"):
        await store.save_document("oss", "nib", NIB, {}, received_at=dt.datetime(2026, 1, 5, 8, 0))
    assert await store.document_history("oss", "nib", NIB) == []


async def test_old_documents_are_purged_in_batches_oldest_first(store: Store) -> None:
    """Documents received before the cutoff go, oldest first, limit by limit; newer ones of the same key stay."""
    now = dt.datetime.now(dt.UTC)
    await store.save_document("oss", "nib", NIB, {"v": "old"}, received_at=now - dt.timedelta(days=3))
    await store.save_document("oss", "nib", OTHER_NIB, {"v": "old"}, received_at=now - dt.timedelta(days=2))
    await store.save_document("oss", "nib", NIB, {"v": "new"}, received_at=now)
    cutoff = (now - dt.timedelta(days=1)).timestamp()
    assert [await store.purge_documents(cutoff, limit=1) for _ in range(3)] == [1, 1, 0]
    assert [d.document for d in await store.document_history("oss", "nib", NIB)] == [{"v": "new"}]
    assert await store.latest_document("oss", "nib", OTHER_NIB) is None


async def test_retention_purges_documents_with_requests(store: Store) -> None:
    """purge_expired removes documents past the retention period and counts them."""
    now = dt.datetime.now(dt.UTC)
    await store.save_document("oss", "nib", NIB, DATA, received_at=now - dt.timedelta(days=40))
    await store.save_document("oss", "nib", OTHER_NIB, DATA, received_at=now)
    assert await purge_expired(store, retention_seconds=30 * 86400, batch=1) == (0, 1)
    assert await store.latest_document("oss", "nib", NIB) is None
    assert await store.latest_document("oss", "nib", OTHER_NIB) is not None


async def test_an_agencys_view_is_its_own(store: Store) -> None:
    """ScopedDocuments is the AgencyDocuments port of one agency: another agency's view sees none of it."""
    oss: AgencyDocuments = ScopedDocuments(store, "oss")
    other: AgencyDocuments = ScopedDocuments(store, "bpjs-kesehatan")
    await oss.put("nib", NIB, DATA, received_at=at(0))
    await oss.put("nib", NIB, {"v": 2}, received_at=at(1))
    assert await oss.latest("nib", NIB) == {"v": 2}
    assert await oss.history("nib", NIB) == [ReceivedDocument(DATA, at(0)), ReceivedDocument({"v": 2}, at(1))]
    assert (await other.latest("nib", NIB), await other.history("nib", NIB)) == (None, [])
    with pytest.raises(ValueError, match="time zone"):
        await oss.put("nib", NIB, {}, received_at=dt.datetime(2026, 1, 5))
    assert "oss" in repr(oss)


async def test_documents_are_sealed_and_a_changed_byte_is_named(sealed: Store, raw: Raw) -> None:
    """The raw table holds no name or NIK; one flipped ciphertext bit fails to open, naming row and column only."""
    await sealed.save_document("oss", "nib", NIB, DATA, received_at=at(0))
    everything = await raw.everything()
    assert b"mppenc:v1:old:" in everything and NIB.encode() in everything
    assert NAME.encode() not in everything and NIK.encode() not in everything
    [(doc_id, stored)] = await raw.rows("SELECT id, CAST(document AS TEXT) FROM agency_documents")
    assert doc_id.startswith("doc_") and stored.startswith('"mppenc:v1:old:')
    await raw.set("agency_documents", "document", "id", doc_id, flip_ciphertext(stored))
    with pytest.raises(SealedDataError) as caught:
        await sealed.latest_document("oss", "nib", NIB)
    message = str(caught.value)
    assert "agency_documents.document" in message and doc_id in message and "integrity check" in message
    assert NAME not in message and NIK not in message


async def test_a_document_moved_to_another_row_or_column_does_not_open(sealed: Store, raw: Raw) -> None:
    """A ciphertext copied to another document, or a row claiming another column's sealing, is refused."""
    await sealed.save_document("oss", "nib", NIB, DATA, received_at=at(0))
    await sealed.save_document("oss", "nib", OTHER_NIB, {"nib": OTHER_NIB}, received_at=at(0))
    rows = dict(await raw.rows("SELECT key, id FROM agency_documents"))
    stored = await raw.get("agency_documents", "document", "id", rows[NIB])
    await raw.set("agency_documents", "document", "id", rows[OTHER_NIB], stored or "")
    with pytest.raises(SealedDataError, match="integrity check"):
        await sealed.latest_document("oss", "nib", OTHER_NIB)
    await raw.set("agency_documents", "sealed_as", "id", rows[NIB], "requests.envelope")
    with pytest.raises(SealedDataError, match="no earlier table had"):
        await sealed.latest_document("oss", "nib", NIB)


async def test_a_store_without_keys_keeps_plain_json(raw: Raw) -> None:
    """Without a key ring a document is plain JSON (the stores' tools and queue tests), and reads back."""
    plain = raw.store(None)
    await plain.open()
    try:
        await plain.save_document("oss", "nib", NIB, DATA, received_at=at(0))
        assert (found := await plain.latest_document("oss", "nib", NIB)) is not None and found.document == DATA
    finally:
        await plain.aclose()
    [(stored,)] = await raw.rows("SELECT CAST(document AS TEXT) FROM agency_documents")
    assert orjson.loads(stored) == DATA


# The upgrade from a database that kept OSS's pushes in oss_nib (migrations 0002-0005) to agency_documents (0006).

KEYS = KeyRing.parse(OLD)
SEALED = {"nib": NIB, "oss_id": "P1", "penanggung_jwb": [{"nama": NAME, "nik": NIK}]}
PLAIN = {"nib": OTHER_NIB, "nama_perseroan": "PT LAMA"}  # written before sealing existed (before 0005)
LAST_PUSH, FIRST_PUSH = dt.datetime.now(dt.UTC) - dt.timedelta(days=2), dt.datetime.now(dt.UTC) - dt.timedelta(days=9)
PLAIN_PUSH = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
#: (nib, data as the old store wrote it, first_received_at, received_at, pushes)
OLD_ROWS = [
    (NIB, seal_json(KEYS, SEALED, column="oss_nib.data", row=NIB) or "", FIRST_PUSH, LAST_PUSH, 3),
    (OTHER_NIB, orjson.dumps(PLAIN).decode(), PLAIN_PUSH, PLAIN_PUSH, 1),
]


def _sqlite_before_0006(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        for version, _, sql in migrations("sqlite")[:5]:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, T0.isoformat()))
        conn.executemany(
            "INSERT INTO oss_nib (nib, oss_id, company_name, data, first_received_at, received_at, pushes) "
            "VALUES (?, NULL, NULL, ?, ?, ?, ?)",
            [(nib, data, first.isoformat(), last.isoformat(), n) for nib, data, first, last, n in OLD_ROWS],
        )
    finally:
        conn.close()


async def _postgres_before_0006(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)")
        for version, _, sql in migrations("postgres")[:5]:
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations VALUES ($1, now())", version)
        await conn.executemany(
            "INSERT INTO oss_nib (nib, oss_id, company_name, data, first_received_at, received_at, pushes) "
            "VALUES ($1, NULL, NULL, $2::json, $3, $4, $5)",
            OLD_ROWS,
        )
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Raw]:
    """A database at version 5 holding OSS pushes in oss_nib, upgraded as each store is (SQLite when it opens,
    PostgreSQL by ``db upgrade``)."""
    if request.param == "sqlite":
        path = str(tmp_path / "old.sqlite3")
        _sqlite_before_0006(path)
        yield Raw(Backend("sqlite", lambda: SqliteStore(path), sqlite3.IntegrityError, path), OLD)
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    dsn = postgres.create_database(template=None)
    try:
        asyncio.run(_postgres_before_0006(dsn))
        assert asyncio.run(postgres_upgrade(dsn)) == [v for v, _, _ in migrations("postgres")[5:]]
        yield Raw(Backend("postgres", lambda: PostgresStore(dsn), asyncpg.UniqueViolationError, dsn), OLD)
    finally:
        postgres.drop_database(dsn)


async def test_the_upgrade_moves_each_nibs_latest_push_and_drops_oss_nib(upgraded: Raw) -> None:
    """Each oss_nib row becomes one (oss, nib, NIB) document, sealed or plain as it was, and oss_nib is gone."""
    store = upgraded.store()
    await store.open()
    try:
        sealed = await store.document_history("oss", "nib", NIB)
        plain = await store.document_history("oss", "nib", OTHER_NIB)
    finally:
        await store.aclose()
    assert sealed == [StoredDocument("oss", "nib", NIB, SEALED, LAST_PUSH)]
    assert plain == [StoredDocument("oss", "nib", OTHER_NIB, PLAIN, PLAIN_PUSH)]
    moved = await upgraded.rows("SELECT id, sealed_as FROM agency_documents ORDER BY seq")
    assert moved == [(NIB, "oss_nib.data"), (OTHER_NIB, "oss_nib.data")]  # oldest push first
    if upgraded.backend.name == "sqlite":
        tables = await upgraded.rows("SELECT name FROM sqlite_master WHERE name = 'oss_nib'")
    else:
        tables = await upgraded.rows("SELECT to_regclass('oss_nib') WHERE to_regclass('oss_nib') IS NOT NULL")
    assert tables == [] and NAME.encode() not in await upgraded.everything()


async def test_after_the_upgrade_pushes_append_reads_and_retention_work(upgraded: Raw) -> None:
    """The moved push is the start of its NIB's history: a new push follows it, OSS's read route reports both,
    a moved push tampered with is named by its old column, and retention purges moved rows like any other."""
    store = upgraded.store()
    await store.open()
    try:
        oss = ScopedDocuments(store, "oss")
        now = dt.datetime.now(dt.UTC)
        await oss.put("nib", OTHER_NIB, {**PLAIN, "nama_perseroan": "PT BARU"}, received_at=now)
        read = NibInbound(oss, credentials=None, clock=lambda: now).read
        answer = await read(InboundRequest("GET", "/v1/oss/nib", {}, b"", path_params={"nib": OTHER_NIB}))
        stored: dict[str, Any] = orjson.loads(answer.body)
        assert (answer.status, stored["company_name"], stored["pushes"]) == (200, "PT BARU", 2)
        assert dt.datetime.fromisoformat(stored["first_received_at"]) == PLAIN_PUSH
        old = await upgraded.get("agency_documents", "document", "id", NIB)
        await upgraded.set("agency_documents", "document", "id", NIB, flip_ciphertext(old or ""))
        with pytest.raises(SealedDataError, match=rf"oss_nib\.data of {NIB} .*integrity check"):
            await store.latest_document("oss", "nib", NIB)
        assert await purge_expired(store, retention_seconds=86400) == (0, 1)
        assert await store.latest_document("oss", "nib", NIB) is None
        assert len(await store.document_history("oss", "nib", OTHER_NIB)) == 2
    finally:
        await store.aclose()
