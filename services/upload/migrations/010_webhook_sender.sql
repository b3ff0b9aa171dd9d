-- Which deployment a webhook delivery belongs to: the topic prefix of the webhooks service
-- that created it (empty for the default topics). A webhooks process claims only its own
-- deployment's deliveries, so deployments (or test runs) that share a database on topics of
-- their own never send each other's webhooks with their own settings.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS sender text NOT NULL DEFAULT '';

DROP INDEX IF EXISTS webhook_deliveries_due;
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (sender, next_attempt_at)
    WHERE status = 'pending';
