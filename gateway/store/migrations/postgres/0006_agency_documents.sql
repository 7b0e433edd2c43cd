-- What agencies push to the region through their adapters' inbound routes (adapters/_inbound.py), every agency in
-- one table: each push is a row, kept as history, and the latest per (agency, kind, key) is what a lookup reads.
-- document is sealed (gateway/store/_sealing.py) to agency_documents.document and the row's id, in a JSON column
-- as a JSON string. Same tables and columns as migrations/sqlite/0006_agency_documents.sql.
CREATE TABLE agency_documents (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,   -- the order pushes were saved in
    id          TEXT NOT NULL UNIQUE,   -- doc_<ULID>, made by the store: what the sealed document is bound to
    agency      TEXT NOT NULL,
    kind        TEXT NOT NULL,          -- the adapter's word for the sort of document (nib)
    key         TEXT NOT NULL,          -- what it is about (the NIB), in clear to find it by: never a NIK or name
    document    JSON NOT NULL,          -- JSON object, personal data included
    received_at TIMESTAMPTZ NOT NULL,
    sealed_as   TEXT                    -- NULL, or the column a document copied from an older table was sealed to
);
CREATE INDEX agency_documents_key ON agency_documents (agency, kind, key, seq);
CREATE INDEX agency_documents_received ON agency_documents (received_at);

-- OSS's NIB pushes (0002_oss_nib, one row per NIB: its latest push) move here as (oss, nib, <NIB>).
-- The data is copied byte for byte, not sealed again: SQL has no data key. It was sealed to oss_nib.data and the
-- NIB, so a copied row keeps the NIB as its id and says sealed_as = 'oss_nib.data', and the store opens it so.
-- A row written before sealing existed is a plain JSON object and stays one. Earlier pushes were never kept, so each
-- NIB's history starts with its latest push: first_received_at, pushes, oss_id and company_name are not copied
-- (the last two are in the data).
INSERT INTO agency_documents (id, agency, kind, key, document, received_at, sealed_as)
SELECT nib, 'oss', 'nib', nib, data, received_at, 'oss_nib.data' FROM oss_nib ORDER BY received_at, nib;

-- Dropped rather than left behind: retention purges agency_documents only, so a table nobody reads would keep
-- personal data forever. The migration is one transaction: if the copy fails, nothing is dropped.
DROP TABLE oss_nib;
