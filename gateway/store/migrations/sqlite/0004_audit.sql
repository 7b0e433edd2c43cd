-- The audit log: append-only and hash-chained (gateway/_audit.py). Never purged: it holds no personal data in
-- clear (the subject is a keyed hash of the NIK). The single writer thread serialises appends.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,   -- 1, 2, 3... without gaps
    at         TEXT NOT NULL,         -- ISO 8601, UTC, microseconds
    client_id  TEXT,
    mpp_id     TEXT,
    desk       TEXT,
    operator   TEXT,
    action     TEXT NOT NULL,         -- request.accepted, request.completed, request.read, access.denied...
    service    TEXT,
    request_id TEXT,
    subject    TEXT,                  -- HMAC-SHA256 of the applicant's NIK under the audit key
    outcome    TEXT,
    prev_hash  TEXT NOT NULL,         -- the previous entry's hash (64 zeros for the first)
    hash       TEXT NOT NULL          -- SHA-256 of the canonical entry, prev_hash included
);
CREATE INDEX audit_log_subject ON audit_log (subject);
CREATE INDEX audit_log_request ON audit_log (request_id);

-- The chain's head signed now and then (Ed25519), so a cut tail shows.
CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY,
    hash      TEXT NOT NULL,
    at        TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL           -- base64, over gateway._audit.checkpoint_message
);
