-- Usage by owner and day: uploads by upload time (deleted images included), finished tasks
-- by finishing time. Additive and idempotent.

CREATE INDEX IF NOT EXISTS images_owner_uploaded_all ON images (owner, uploaded_at);
CREATE INDEX IF NOT EXISTS processing_tasks_owner_finished
    ON processing_tasks (owner, finished_at) WHERE status IN ('completed', 'failed');
