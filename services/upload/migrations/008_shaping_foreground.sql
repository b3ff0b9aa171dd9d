-- The cut-out's requested shape (crop, crop margin, channels, size preset) and the subject's
-- box the processor found in the mask. Additive and idempotent; null for older tasks.

ALTER TABLE processing_tasks ADD COLUMN IF NOT EXISTS requested_shape jsonb;
ALTER TABLE processing_tasks ADD COLUMN IF NOT EXISTS foreground jsonb;
