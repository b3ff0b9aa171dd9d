-- The image lifecycle: who created and last changed each row (from the events, like the
-- timestamps), deletions, the purger's work list, and indexes for listing an owner's
-- images. Additive and idempotent: every statement can run against a database that
-- already has it.

ALTER TABLE images ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE images ADD COLUMN IF NOT EXISTS updated_by text;
ALTER TABLE images ADD COLUMN IF NOT EXISTS deleted_by text;
ALTER TABLE processing_tasks ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE processing_tasks ADD COLUMN IF NOT EXISTS updated_by text;
ALTER TABLE processing_tasks ADD COLUMN IF NOT EXISTS deleted_by text;

-- One row per deleted image, from its ImageDeleted events (the first deletion, and the
-- latest one for the audit fields). Kept even when the image's upload has not been
-- applied yet, so the upload, applied later, is deleted at once.
CREATE TABLE IF NOT EXISTS image_deletions (
    image_id   text PRIMARY KEY,
    owner      text NOT NULL,
    deleted_at timestamptz NOT NULL,
    deleted_by text NOT NULL,
    event_id   uuid NOT NULL,
    last_at    timestamptz NOT NULL,
    last_by    text NOT NULL
);

-- Listing: newest first with a keyset cursor, optionally by status.
CREATE INDEX IF NOT EXISTS images_owner_listing
    ON images (owner, uploaded_at DESC, id DESC) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS images_owner_status_listing
    ON images (owner, status, uploaded_at DESC, id DESC) WHERE NOT deleted;

-- The purger's work list (not part of the read model: a rebuild leaves it alone).
CREATE TABLE IF NOT EXISTS purge_requests (
    image_id     text PRIMARY KEY,
    owner        text NOT NULL,
    due_at       timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    purged_at    timestamptz,
    objects      integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS purge_requests_due ON purge_requests (due_at) WHERE purged_at IS NULL;

-- The API marks a deleted upload at once, so the owner reads it as deleted before the
-- projector has caught up.
ALTER TABLE uploads ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
