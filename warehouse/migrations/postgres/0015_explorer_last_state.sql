-- The explorer state each account used last, so opening the explorer without a query string returns to
-- it. Written on every search, so it is a preference, not an audited change.
CREATE TABLE IF NOT EXISTS explorer_last_state (
    account_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (length(state) <= 8192),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
