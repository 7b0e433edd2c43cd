-- NIB data OSS RBA pushes to the region (receiveNIB): one row per NIB, the latest push wins.
-- data holds the dataNIB object as OSS sent it, personal data included (responsible persons, shareholders).
CREATE TABLE oss_nib (
    nib               TEXT PRIMARY KEY,
    oss_id            TEXT,
    company_name      TEXT,
    data              JSON NOT NULL,
    first_received_at TIMESTAMPTZ NOT NULL,
    received_at       TIMESTAMPTZ NOT NULL,
    pushes            INTEGER NOT NULL DEFAULT 1
);
