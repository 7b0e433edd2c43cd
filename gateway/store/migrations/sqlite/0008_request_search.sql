-- Searching requests (GET /v1/requests, mpp-gateway requests): by status within a time window, newest first.
-- "Failed in the last hour" reads only the rows it returns instead of every failed request. The unfiltered
-- newest-first walk uses requests_created (0007).
CREATE INDEX requests_status ON requests (status, created_at)
