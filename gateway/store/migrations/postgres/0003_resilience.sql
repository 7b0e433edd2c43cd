-- Deferred work (circuit open, agency down), reconciliation after an ambiguous submission,
-- idempotency keys per client, and durable webhook deliveries.
ALTER TABLE requests ADD COLUMN not_before DOUBLE PRECISION;   -- Unix time before which nobody claims it
ALTER TABLE requests ADD COLUMN needs_reconcile BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE idempotency_keys (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,   -- SHA-256 of the canonical request body
    request_id  TEXT NOT NULL REFERENCES requests (id),
    created_at  DOUBLE PRECISION NOT NULL,   -- Unix time
    PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,   -- the event id receivers de-duplicate on
    request_id   TEXT NOT NULL REFERENCES requests (id),
    client_id    TEXT NOT NULL,
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,      -- sent byte for byte as stored (it is signed)
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      DOUBLE PRECISION NOT NULL,
    delivered_at DOUBLE PRECISION,
    last_error   TEXT
);
CREATE INDEX webhooks_due ON webhooks (next_at) WHERE delivered_at IS NULL;
