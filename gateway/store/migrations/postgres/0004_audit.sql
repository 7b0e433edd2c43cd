-- The audit log: append-only and hash-chained (gateway/_audit.py). Never purged: it holds no personal data in
-- clear (the subject is a keyed hash of the NIK). Replicas serialise appends with a transaction-level advisory
-- lock (gateway/_postgres.py), so the chain stays linear.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,    -- 1, 2, 3... without gaps
    at         TIMESTAMPTZ NOT NULL,
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
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL           -- base64, over gateway._audit.checkpoint_message
);

-- Defence in depth for the gateway's own database role: rows are only ever added. The hash chain and the signed
-- checkpoints are what catch an owner or superuser who disables this.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
