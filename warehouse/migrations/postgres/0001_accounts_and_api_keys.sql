-- Platform users (dashboard admins and viewers) and the API keys app servers ship with.
-- Secrets are never stored: passwords as scrypt hashes, API keys as SHA-256 of
-- a 256-bit random key (a fast hash is right for high-entropy keys), plus a
-- short prefix so an admin can recognise a key in lists.
CREATE TABLE IF NOT EXISTS accounts (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'viewer' CHECK (role IN ('admin', 'viewer')),
    failed_login_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_login_attempts >= 0),
    locked_until TIMESTAMPTZ,
    last_login_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_email_key ON accounts (lower(email));

CREATE TABLE IF NOT EXISTS api_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    -- event kinds the key may send, and 'query' for the read API; empty = nothing
    scopes TEXT[] NOT NULL DEFAULT '{}',
    rate_limit_per_s INTEGER CHECK (rate_limit_per_s IS NULL OR rate_limit_per_s > 0),
    created_by BIGINT REFERENCES accounts (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name_key ON api_keys (name) WHERE revoked_at IS NULL;
