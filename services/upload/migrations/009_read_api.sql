-- The read side's public interface: the views other services (the notifier) select from,
-- instead of the upload service's own tables. Their columns are a contract, checked by the
-- tests of both services: the tables behind them may change, the views keep their columns
-- (add columns, never rename or drop one without a new contract). They live in the schema
-- of the tables, so a read model in another schema carries its own interface.
--
-- The projector also announces every event it applies, at commit, with
-- pg_notify('clearcut_applied', '<event_id> <image_id>'); read_api_applied_events answers
-- for an event whose announcement a listener missed.

-- One row per image that is not deleted, with its current task (NULL columns while the
-- task is not known yet).
CREATE OR REPLACE VIEW read_api_images AS
SELECT i.id                        AS image_id,
       i.owner,
       i.status,
       i.current_task_id           AS task_id,
       i.current_task_requested_at AS task_requested_at,
       i.updated_at,
       t.attempt,
       t.model_name,
       t.model_version,
       t.provider,
       t.results,
       t.error_reason,
       t.error_message,
       t.error_retriable
FROM images i
LEFT JOIN processing_tasks t ON t.id = i.current_task_id AND NOT t.deleted
WHERE NOT i.deleted;

-- Every event the projector has applied (its effects are committed and readable).
CREATE OR REPLACE VIEW read_api_applied_events AS
SELECT event_id, event_type, image_id, occurred_at, applied_at
FROM applied_events;

-- API keys that are active now (not revoked, not expired), by their SHA-256 digest, with
-- their scopes.
CREATE OR REPLACE VIEW read_api_active_keys AS
SELECT key_sha256, owner, scopes
FROM api_keys
WHERE (revoked_at IS NULL OR revoked_at > now()) AND (expires_at IS NULL OR expires_at > now());
