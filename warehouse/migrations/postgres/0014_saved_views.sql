-- The explorer's saved views: a name and the page's whole state (the query string of its URL: query,
-- range, columns, pinned facets), owned by an account and optionally shared with the team. A change
-- commits only with its audit row (the trigger of migration 0007).
CREATE TABLE IF NOT EXISTS saved_views (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    state TEXT NOT NULL CHECK (length(state) <= 8192),
    shared BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS saved_views_name_key ON saved_views (account_id, lower(name));
CREATE INDEX IF NOT EXISTS saved_views_shared_idx ON saved_views (updated_at DESC) WHERE shared;

DROP TRIGGER IF EXISTS saved_views_audited ON saved_views;
CREATE CONSTRAINT TRIGGER saved_views_audited
    AFTER INSERT OR DELETE OR UPDATE OF name, state, shared ON saved_views
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lookout_require_audit('saved_view');
