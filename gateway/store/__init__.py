"""Durable storage: the store port (requests and their queue, the webhook outbox, the audit chain, agency documents),
SQLite and PostgreSQL behind it, sealing of personal data at rest, schema migrations and retention."""

from __future__ import annotations

from ._audit_chain import GENESIS, canonical_time, chain_events, entry_hash
from ._documents import ScopedDocuments
from ._health import WriteHealth
from ._ids import new_request_id
from ._migrations import migrations
from ._port import (
    AuditCheckpoint,
    AuditEntry,
    AuditEvent,
    AuditStore,
    DocumentStore,
    IdempotencyMismatch,
    InvalidTransition,
    NewRequest,
    NewWebhook,
    RequestStore,
    SchemaOutdated,
    Store,
    StoredAttempt,
    StoredDocument,
    StoredRequest,
    StoreError,
    StoreUnavailable,
    Webhook,
    WebhookOutbox,
    check_transition,
)
from ._postgres import PostgresStore
from ._retention import purge_expired
from ._schema import describe, postgres_status, postgres_upgrade, safe_dsn, schema_status, upgrade
from ._sealing import (
    KeyRing,
    SealedDataError,
    generate_data_key,
    kept_secret,
    open_json,
    open_json_text,
    open_text,
    seal_json,
    seal_text,
    stored_data_keys,
)
from ._sqlite import SqliteStore
from ._sqlite_writer import Writer

__all__ = [
    "GENESIS",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditEvent",
    "AuditStore",
    "DocumentStore",
    "IdempotencyMismatch",
    "InvalidTransition",
    "KeyRing",
    "NewRequest",
    "NewWebhook",
    "PostgresStore",
    "RequestStore",
    "SchemaOutdated",
    "ScopedDocuments",
    "SealedDataError",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredAttempt",
    "StoredDocument",
    "StoredRequest",
    "Webhook",
    "WebhookOutbox",
    "WriteHealth",
    "Writer",
    "canonical_time",
    "chain_events",
    "check_transition",
    "describe",
    "entry_hash",
    "generate_data_key",
    "kept_secret",
    "migrations",
    "new_request_id",
    "open_json",
    "open_json_text",
    "open_text",
    "postgres_status",
    "postgres_upgrade",
    "purge_expired",
    "safe_dsn",
    "schema_status",
    "seal_json",
    "seal_text",
    "stored_data_keys",
    "upgrade",
]
