-- API keys, stored as SHA-256 digests only; shared by the upload API and the notifier.

CREATE TABLE api_keys (
    key_sha256 text PRIMARY KEY CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    owner      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX api_keys_owner ON api_keys (owner);
