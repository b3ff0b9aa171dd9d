-- Per-key settings (label, scopes, limits, expiry) and the state of the rate limits and
-- quotas, kept in PostgreSQL so that every API replica counts against the same numbers.
-- Additive and idempotent.

ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS id text
    GENERATED ALWAYS AS ('key_' || left(key_sha256, 16)) STORED;
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_id ON api_keys (id);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS label text;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS scopes text[] NOT NULL
    DEFAULT ARRAY['images:read', 'images:write'];
-- NULL: the API's default (CLEARCUT_UPLOAD_KEY_DEFAULT_*); 0: no limit.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS rate_per_minute integer CHECK (rate_per_minute >= 0);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS max_concurrent integer CHECK (max_concurrent >= 0);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS monthly_megapixels double precision
    CHECK (monthly_megapixels >= 0);
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS replaced_by text;

-- Units used per key and minute (a request costs 1, an upload its megapixels rounded up).
CREATE TABLE IF NOT EXISTS api_key_windows (
    key_sha256   text NOT NULL,
    window_start timestamptz NOT NULL,
    used         integer NOT NULL,
    PRIMARY KEY (key_sha256, window_start)
);

-- Uploads in flight per key: one row per upload being received, with a lease so that a
-- replica that dies holding one gives it back.
CREATE TABLE IF NOT EXISTS api_key_slots (
    slot_id    uuid PRIMARY KEY,
    key_sha256 text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS api_key_slots_key ON api_key_slots (key_sha256, expires_at);

-- Megapixels accepted per key and calendar month (UTC).
CREATE TABLE IF NOT EXISTS api_key_months (
    key_sha256 text NOT NULL,
    month      date NOT NULL,
    megapixels double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (key_sha256, month)
);
