-- Service levels (gateway/store/_reports.py): the report is computed from the requests when asked, so it needs no
-- rollup table. What the requests do not hold is kept here: each agency's circuit as each replica saw it, and the
-- citizens' satisfaction ratings. Neither holds personal data.
-- Same tables and columns as migrations/sqlite/0007_service_levels.sql.

-- One row per circuit change, plus every agency's state when a replica starts and every few minutes after.
CREATE TABLE circuit_transitions (
    agency  TEXT NOT NULL,
    replica TEXT NOT NULL,   -- the dispatcher's lease owner name (host:pid)
    at      TIMESTAMPTZ NOT NULL,   -- the state holds from then on
    state   TEXT NOT NULL    -- closed, open, half_open
);
CREATE INDEX circuit_transitions_replica ON circuit_transitions (agency, replica, at);
CREATE INDEX circuit_transitions_at ON circuit_transitions (at);

-- A citizen's rating of a finished request: the elements of the public-service satisfaction survey (SKM,
-- PermenPAN-RB 14/2017), each 1-4 or NULL when not scored. No free text, nothing about the person.
CREATE TABLE ratings (
    request_id           TEXT PRIMARY KEY REFERENCES requests (id),
    service              TEXT NOT NULL,
    agency               TEXT NOT NULL,
    mpp_id               TEXT NOT NULL,
    rated_at             TIMESTAMPTZ NOT NULL,
    persyaratan          INTEGER CHECK (persyaratan BETWEEN 1 AND 4),
    prosedur             INTEGER CHECK (prosedur BETWEEN 1 AND 4),
    waktu                INTEGER CHECK (waktu BETWEEN 1 AND 4),
    biaya                INTEGER CHECK (biaya BETWEEN 1 AND 4),
    produk               INTEGER CHECK (produk BETWEEN 1 AND 4),
    kompetensi           INTEGER CHECK (kompetensi BETWEEN 1 AND 4),
    perilaku             INTEGER CHECK (perilaku BETWEEN 1 AND 4),
    sarana               INTEGER CHECK (sarana BETWEEN 1 AND 4),
    penanganan_pengaduan INTEGER CHECK (penanganan_pengaduan BETWEEN 1 AND 4)
);

-- The report reads a window of requests in acceptance order.
CREATE INDEX requests_created ON requests (created_at);
