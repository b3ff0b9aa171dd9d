-- Webhooks: where an owner's completions and failures are POSTed, what was sent, and every
-- attempt. Written by the webhooks service (and `clearcut webhooks`); the upload API reads
-- the delivery log for `GET /v1/webhooks/deliveries`.

-- Endpoints an owner registered: each receives every completion and failure of that owner,
-- signed with its own secret. Removing one keeps its row (the log still names it).
CREATE TABLE webhook_endpoints (
    id          text PRIMARY KEY,
    owner       text NOT NULL,
    url         text NOT NULL,
    secret      text NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz
);

CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner) WHERE removed_at IS NULL;

-- The secret that signs deliveries to an upload's own `callback_url`, one per owner.
CREATE TABLE webhook_callback_secrets (
    owner      text PRIMARY KEY,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The `callback_url` an upload named, by task (from ImageUploaded).
CREATE TABLE webhook_callbacks (
    task_id    text PRIMARY KEY,
    image_id   text NOT NULL,
    owner      text NOT NULL,
    url        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One outcome (a task's completion or failure of one attempt) and the payload every
-- delivery of it carries; kept so that a callback learnt later still gets it.
CREATE TABLE webhook_outcomes (
    outcome_key text PRIMARY KEY,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    owner       text NOT NULL,
    image_id    text NOT NULL,
    task_id     text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_outcomes_task ON webhook_outcomes (task_id);

-- One outcome to one target; the id is stable (derived from the outcome and the target),
-- so a re-delivered event creates nothing new.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    outcome_key      text NOT NULL REFERENCES webhook_outcomes (outcome_key),
    owner            text NOT NULL,
    target           text NOT NULL CHECK (target IN ('endpoint', 'callback')),
    endpoint_id      text REFERENCES webhook_endpoints (id),
    url              text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('pending', 'delivered', 'failed', 'refused', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_owner ON webhook_deliveries (owner, created_at DESC, id DESC);

-- Every attempt of a delivery, refusals included.
CREATE TABLE webhook_attempts (
    delivery_id text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms double precision NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'refused')),
    status_code integer,
    error       text,
    PRIMARY KEY (delivery_id, attempt)
);
