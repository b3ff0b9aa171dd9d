-- The upload API's own ledger of accepted uploads (not part of the read model): makes
-- Idempotency-Key retries safe, lets the sweep find objects of uploads that never got
-- published, and answers for an image until the projector has caught up.

CREATE TABLE uploads (
    image_id            text PRIMARY KEY,
    owner               text NOT NULL,
    idempotency_key     text,
    request_fingerprint text NOT NULL,
    state               text NOT NULL CHECK (state IN ('pending', 'published')),
    bucket              text NOT NULL,
    object_key          text NOT NULL,
    event               jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    published_at        timestamptz
);

CREATE UNIQUE INDEX uploads_owner_idempotency_key
    ON uploads (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX uploads_pending ON uploads (created_at) WHERE state = 'pending';
