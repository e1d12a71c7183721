-- A change to an account, an API key or a personal token cannot commit without
-- its audit row written by the same transaction: a deferred constraint trigger
-- looks for the platform's audit row of that resource with this transaction's id
-- at commit, and aborts the transaction otherwise. Columns that only record use
-- (last_used_at, failed_login_attempts, locked_until, last_login_at) are not
-- changes an admin makes, so updating only them needs no audit row.
CREATE OR REPLACE FUNCTION lookout_require_audit() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    resource_key TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.id::TEXT ELSE NEW.id::TEXT END;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM admin_audit_logs
        WHERE platform AND txid = txid_current() AND resource_type = TG_ARGV[0] AND resource_id = resource_key
    ) THEN
        RAISE EXCEPTION 'change to % % has no audit row in its transaction', TG_ARGV[0], resource_key
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS accounts_audited ON accounts;
CREATE CONSTRAINT TRIGGER accounts_audited
    AFTER INSERT OR DELETE OR UPDATE OF email, role, password_hash, disabled_at ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lookout_require_audit('account');

DROP TRIGGER IF EXISTS api_keys_audited ON api_keys;
CREATE CONSTRAINT TRIGGER api_keys_audited
    AFTER INSERT OR DELETE OR UPDATE OF name, key_hash, scopes, rate_limit_per_s, revoked_at ON api_keys
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lookout_require_audit('api_key');

DROP TRIGGER IF EXISTS personal_tokens_audited ON personal_tokens;
CREATE CONSTRAINT TRIGGER personal_tokens_audited
    AFTER INSERT OR DELETE OR UPDATE OF name, token_hash, expires_at, revoked_at ON personal_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lookout_require_audit('personal_token');
