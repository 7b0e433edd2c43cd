-- Journey runs in the operations console and the citizens' ratings of journeys (gateway/store/_journey_search.py,
-- gateway/store/_reports.py). A journey rating holds scores only: no free text, nothing about the person.


-- The journey search walks journeys newest first, all of them or an MPP's.
CREATE INDEX journeys_created ON journeys (created_at, id);
CREATE INDEX journeys_mpp ON journeys (mpp_id, created_at);

-- A citizen's rating of a finished journey: the elements of the public-service satisfaction survey (SKM,
-- PermenPAN-RB 14/2017), each 1-4 or NULL when not scored. The report counts it in the journey's MPP and in the
-- agencies and services its steps' requests used.
CREATE TABLE journey_ratings (
    journey_id           TEXT PRIMARY KEY REFERENCES journeys (id),
    journey              TEXT NOT NULL,   -- the definition's id
    mpp_id               TEXT NOT NULL,
    rated_at             TEXT NOT NULL,   -- ISO 8601, UTC
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
