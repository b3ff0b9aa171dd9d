-- The read model written by the projector: one row per image, one per processing task,
-- and a record of every applied event id so that a re-delivered event changes nothing.
-- created_at/updated_at are event times (occurred_at), so a rebuild from the topics
-- produces identical rows.

CREATE TABLE images (
    id                        text PRIMARY KEY,
    owner                     text NOT NULL,
    original_bucket           text NOT NULL,
    original_key              text NOT NULL,
    content_type              text NOT NULL,
    size_bytes                bigint NOT NULL CHECK (size_bytes > 0),
    width                     integer NOT NULL CHECK (width > 0),
    height                    integer NOT NULL CHECK (height > 0),
    sha256                    text NOT NULL,
    status                    text NOT NULL
        CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    current_task_id           text NOT NULL,
    current_task_requested_at timestamptz NOT NULL,
    uploaded_at               timestamptz NOT NULL,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    deleted                   boolean NOT NULL DEFAULT false,
    deleted_at                timestamptz
);

CREATE INDEX images_owner_uploaded_at ON images (owner, uploaded_at DESC) WHERE NOT deleted;

CREATE TABLE processing_tasks (
    id                  text PRIMARY KEY,
    image_id            text NOT NULL,
    owner               text NOT NULL,
    status              text NOT NULL
        CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    attempt             integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    requested_at        timestamptz,
    output_format       text,
    background          text,
    requested_model     text,
    reprocessing        jsonb,
    model_name          text,
    model_version       text,
    model_sha256        text,
    provider            text,
    worker_id           text,
    started_at          timestamptz,
    finished_at         timestamptz,
    duration_ms         double precision,
    timings             jsonb,
    batch_size          integer,
    results             jsonb,
    reused_from_task_id text,
    error_reason        text,
    error_message       text,
    error_retriable     boolean,
    downloads           integer NOT NULL DEFAULT 0,
    last_downloaded_at  timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted             boolean NOT NULL DEFAULT false,
    deleted_at          timestamptz
);

CREATE INDEX processing_tasks_image ON processing_tasks (image_id, requested_at);

CREATE TABLE applied_events (
    event_id    uuid PRIMARY KEY,
    event_type  text NOT NULL,
    image_id    text NOT NULL,
    occurred_at timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX applied_events_image ON applied_events (image_id);
