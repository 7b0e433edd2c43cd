-- Encryption at rest and retention. envelope, result, agency_reference, oss_nib.data and webhooks.body hold
-- sealed values from this version on (mppenc:v1:..., see gateway/_sealing.py), so no column type changes.
-- purged_at: when the retention purge removed a finished request's personal data (envelope, result, reference).
ALTER TABLE requests ADD COLUMN purged_at TEXT;

-- The purge looks for finished, unpurged requests by age: only those rows are in the index.
CREATE INDEX requests_retention ON requests (finished_at) WHERE finished_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX oss_nib_received ON oss_nib (received_at);
CREATE INDEX webhooks_request ON webhooks (request_id)
