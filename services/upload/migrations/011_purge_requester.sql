-- Which deployment a purge request belongs to: the topic prefix of the projector that asked
-- for it (empty for the default topics). A purger claims only its own deployment's
-- requests, so deployments (or test runs) that share a database with buckets of their own
-- never mark each other's purges done without removing the objects.
ALTER TABLE purge_requests ADD COLUMN IF NOT EXISTS requester text NOT NULL DEFAULT '';

DROP INDEX IF EXISTS purge_requests_due;
CREATE INDEX IF NOT EXISTS purge_requests_due ON purge_requests (requester, due_at)
    WHERE purged_at IS NULL;
