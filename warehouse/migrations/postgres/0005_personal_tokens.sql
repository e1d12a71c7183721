-- Personal API tokens: act with their account's role on the JSON API. Stored as
-- SHA-256 of a 256-bit random secret (high entropy: a fast hash is right), with a
-- short prefix to recognise them in lists.
CREATE TABLE IF NOT EXISTS personal_tokens (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE UNIQUE INDEX IF NOT EXISTS personal_tokens_active_name_key
    ON personal_tokens (account_id, name) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS personal_tokens_account_idx ON personal_tokens (account_id, created_at DESC);
