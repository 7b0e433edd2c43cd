-- Journeys (gateway/journeys): several services run as one unit. A step is an ordinary request, linked from its
-- step row by request_id. The finish transaction of a step's request updates its step row (and the journey's
-- updated_at) in the same transaction as the request's final status.
CREATE TABLE journeys (
    id              TEXT PRIMARY KEY,
    journey         TEXT NOT NULL,    -- the definition's id (business.micro-start)
    client_id       TEXT NOT NULL,
    mpp_id          TEXT NOT NULL,
    desk            TEXT NOT NULL,
    operator        TEXT NOT NULL,
    nik_masked      TEXT NOT NULL,
    status          TEXT NOT NULL,    -- running, completed, failed, cancelled
    envelope        TEXT NOT NULL,    -- sealed JSON: applicant, consent, payload, callback_url (personal data)
    result          TEXT,             -- sealed JSON: the combined answer
    problem         TEXT,             -- JSON, RFC 9457
    trace_id        TEXT,
    traceparent     TEXT,             -- the journey's root span: its steps' requests are its children
    visit_budget    REAL NOT NULL,    -- seconds
    within_visit    INTEGER,          -- once final: ended within the visit budget
    idempotency_key TEXT,
    fingerprint     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    purged_at       TEXT              -- when retention removed its personal data (envelope, result)
);
CREATE UNIQUE INDEX journeys_idempotency ON journeys (client_id, idempotency_key);
CREATE INDEX journeys_status ON journeys (status, updated_at);
CREATE INDEX journeys_finished ON journeys (finished_at);

CREATE TABLE journey_steps (
    journey_id      TEXT NOT NULL REFERENCES journeys (id),
    name            TEXT NOT NULL,
    position        INTEGER NOT NULL,   -- the order of the definition
    status          TEXT NOT NULL,      -- pending, running, completed, rejected, failed, skipped, cancelled
    request_id      TEXT,               -- the request of its latest run
    run             INTEGER NOT NULL DEFAULT 0,   -- 1 for the first run, plus one per resume
    override        TEXT,               -- sealed JSON: payload fields a resume corrected
    problem         TEXT,               -- JSON: why it failed without a request (its input did not fit)
    skipped_because TEXT,
    started_at      TEXT,
    finished_at     TEXT,
    PRIMARY KEY (journey_id, name)
);
CREATE INDEX journey_steps_request ON journey_steps (request_id);

-- The outbox carries journey.status notifications too, named by the journey's id: request_id no longer
-- references requests. SQLite changes a constraint by rebuilding the table.
CREATE TABLE webhooks_new (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL NOT NULL,
    delivered_at REAL,
    last_error   TEXT
);
INSERT INTO webhooks_new (id, request_id, client_id, url, body, attempts, next_at, delivered_at, last_error)
    SELECT id, request_id, client_id, url, body, attempts, next_at, delivered_at, last_error FROM webhooks;
DROP TABLE webhooks;
ALTER TABLE webhooks_new RENAME TO webhooks;
CREATE INDEX webhooks_due ON webhooks (delivered_at, next_at);
CREATE INDEX webhooks_request ON webhooks (request_id)
