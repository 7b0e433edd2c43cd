-- Requests, their attempts, and the queue state (status + lease) in one table.
-- Same tables and columns as migrations/sqlite/0001_requests.sql; types are PostgreSQL's own (tests/store checks
-- the two schemas against each other).
CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    service          TEXT NOT NULL,
    agency           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    mpp_id           TEXT NOT NULL,
    desk             TEXT NOT NULL,
    operator         TEXT NOT NULL,
    nik_masked       TEXT NOT NULL,
    -- json, not jsonb: kept as written (key order, and \u0000 escapes that jsonb refuses).
    envelope         JSON NOT NULL,   -- applicant, consent, payload, callback_url (personal data)
    result           JSON,
    agency_reference TEXT,
    problem          JSON,            -- RFC 9457
    trace_id         TEXT,
    traceparent      TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    deadline_at      DOUBLE PRECISION NOT NULL,   -- Unix time
    lease_owner      TEXT,
    lease_expires    DOUBLE PRECISION,            -- Unix time, by the database's clock
    attempts         INTEGER NOT NULL DEFAULT 0
);

-- The queue is the few unfinished rows among many finished ones: index only those.
CREATE INDEX requests_queue ON requests (created_at) WHERE status IN ('accepted', 'in_progress');
CREATE INDEX requests_client ON requests (client_id, created_at);

CREATE TABLE attempts (
    request_id  TEXT NOT NULL REFERENCES requests (id),
    number      INTEGER NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT,
    PRIMARY KEY (request_id, number)
);
