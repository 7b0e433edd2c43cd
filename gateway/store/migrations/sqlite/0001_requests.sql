-- Requests, their attempts, and the queue state (status + lease) in one table.
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
    envelope         TEXT NOT NULL,   -- JSON: applicant, consent, payload, callback_url (personal data)
    result           TEXT,            -- JSON
    agency_reference TEXT,
    problem          TEXT,            -- JSON, RFC 9457
    trace_id         TEXT,
    traceparent      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT,
    deadline_at      REAL NOT NULL,   -- Unix time
    lease_owner      TEXT,
    lease_expires    REAL,            -- Unix time
    attempts         INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX requests_queue ON requests (status, lease_expires);
CREATE INDEX requests_client ON requests (client_id, created_at);

CREATE TABLE attempts (
    request_id  TEXT NOT NULL REFERENCES requests (id),
    number      INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT,
    PRIMARY KEY (request_id, number)
);
