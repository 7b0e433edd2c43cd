-- Journeys (gateway/journeys): several services run as one unit. A step is an ordinary request, linked from its
-- step row by request_id. The finish transaction of a step's request updates its step row (and the journey's
-- updated_at) in the same transaction as the request's final status.
-- Same tables and columns as migrations/sqlite/0009_journeys.sql.
CREATE TABLE journeys (
    id              TEXT PRIMARY KEY,
    journey         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    mpp_id          TEXT NOT NULL,
    desk            TEXT NOT NULL,
    operator        TEXT NOT NULL,
    nik_masked      TEXT NOT NULL,
    status          TEXT NOT NULL,
    envelope        JSON NOT NULL,    -- sealed: applicant, consent, payload, callback_url (personal data)
    result          JSON,             -- sealed: the combined answer
    problem         JSON,             -- RFC 9457
    trace_id        TEXT,
    traceparent     TEXT,
    visit_budget    DOUBLE PRECISION NOT NULL,
    within_visit    BOOLEAN,
    idempotency_key TEXT,
    fingerprint     TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    purged_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX journeys_idempotency ON journeys (client_id, idempotency_key);
-- The sweeper looks for running journeys only.
CREATE INDEX journeys_status ON journeys (updated_at) WHERE status = 'running';
CREATE INDEX journeys_finished ON journeys (finished_at);

CREATE TABLE journey_steps (
    journey_id      TEXT NOT NULL REFERENCES journeys (id),
    name            TEXT NOT NULL,
    position        INTEGER NOT NULL,
    status          TEXT NOT NULL,
    request_id      TEXT,
    run             INTEGER NOT NULL DEFAULT 0,
    override        JSON,
    problem         JSON,
    skipped_because TEXT,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    PRIMARY KEY (journey_id, name)
);
CREATE INDEX journey_steps_request ON journey_steps (request_id);

-- The outbox carries journey.status notifications too, named by the journey's id: request_id no longer
-- references requests.
ALTER TABLE webhooks DROP CONSTRAINT IF EXISTS webhooks_request_id_fkey
