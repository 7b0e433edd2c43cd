-- NIB data OSS RBA pushes to the region (receiveNIB): one row per NIB, the latest push wins.
-- data holds the dataNIB object as OSS sent it, personal data included (responsible persons, shareholders).
CREATE TABLE oss_nib (
    nib               TEXT PRIMARY KEY,
    oss_id            TEXT,
    company_name      TEXT,
    data              TEXT NOT NULL,   -- JSON
    first_received_at TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    pushes            INTEGER NOT NULL DEFAULT 1
)
