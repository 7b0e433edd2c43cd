"""Agency documents: the rows both stores keep of what agencies push, and one agency's view of them for its adapter.

An adapter keeps what its agency pushes through :class:`adapters.AgencyDocuments`; :class:`ScopedDocuments` is that
port over the store's :class:`~gateway.store.DocumentStore`, fixed to the adapter's agency, so no adapter reads or
writes another agency's documents. A document is sealed to ``agency_documents.document`` and its row's id
(``doc_<ULID>``). Rows that migration 0006 copied from the old ``oss_nib`` table were sealed before the move, to
``oss_nib.data`` and the NIB, and SQL could not seal them again: such a row names that column in ``sealed_as`` and
keeps the NIB as its id, and is opened with them. Only that one earlier column is accepted, so a row cannot be made
to open another table's ciphertext by naming its column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from adapters import ReceivedDocument

from ._port import DocumentStore, StoredDocument
from ._sealing import KeyRing, SealedDataError, open_json

__all__ = [
    "DOCUMENT_COLUMN",
    "DOCUMENT_COLUMNS",
    "ScopedDocuments",
    "stored_document",
    "utc_text",
]

#: What a document is sealed to, with its row's id.
DOCUMENT_COLUMN = "agency_documents.document"
#: The columns :func:`stored_document` reads, in its order.
DOCUMENT_COLUMNS = "id, agency, kind, key, document, sealed_as, received_at"
#: The columns rows copied from an older table may have been sealed to (``sealed_as``).
_EARLIER_COLUMNS = frozenset({"oss_nib.data"})


def utc_text(moment: dt.datetime) -> str:
    """``moment`` as SQLite keeps it: ISO 8601 in UTC, always to the microsecond, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("received_at must carry its time zone")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def stored_document(
    keys: KeyRing | None,
    id_: str,
    agency: str,
    kind: str,
    key: str,
    document: str,
    sealed_as: str | None,
    *,
    received_at: dt.datetime,
) -> StoredDocument:
    """A row of ``agency_documents`` (:data:`DOCUMENT_COLUMNS`), its document opened."""
    column = DOCUMENT_COLUMN if sealed_as is None else sealed_as
    if column not in {DOCUMENT_COLUMN, *_EARLIER_COLUMNS}:
        raise SealedDataError(DOCUMENT_COLUMN, id_, f"it names {sealed_as!r}, which no earlier table had")
    opened = open_json(keys, document, column=column, row=id_)
    if not isinstance(opened, dict):  # a document is an object; null or anything else is damage
        raise SealedDataError(column, id_, "it is not a JSON object")
    return StoredDocument(agency=agency, kind=kind, key=key, document=opened, received_at=received_at)


class ScopedDocuments:
    """:class:`adapters.AgencyDocuments` for one agency, over the store: what the gateway gives that agency's adapter.

    Whatever the store raises reaches the adapter as is (:class:`~gateway.store.StoreError` when a document cannot
    be kept or read, :class:`~gateway.store.SealedDataError` when one cannot be opened).
    """

    def __init__(self, store: DocumentStore, agency: str) -> None:
        self._store = store
        self.agency = agency

    def __repr__(self) -> str:
        return f"ScopedDocuments(agency={self.agency!r})"

    async def put(self, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime) -> None:
        """Keep ``document`` as the latest of ``(kind, key)``; earlier ones stay in the history."""
        if received_at.tzinfo is None:
            raise ValueError("received_at must carry its time zone")
        await self._store.save_document(self.agency, kind, key, document, received_at=received_at)

    async def latest(self, kind: str, key: str) -> dict[str, Any] | None:
        """The document of ``(kind, key)`` put last, or ``None`` if none arrived."""
        found = await self._store.latest_document(self.agency, kind, key)
        return None if found is None else found.document

    async def history(self, kind: str, key: str) -> list[ReceivedDocument]:
        """Every document of ``(kind, key)`` with its arrival time, in the order put; empty if none arrived."""
        return [
            ReceivedDocument(found.document, found.received_at)
            for found in await self._store.document_history(self.agency, kind, key)
        ]
