-- What the platform's own audit rows need beyond an app server's admin_audit event:
-- which rows Lookout wrote itself (`platform`: never set by the pipeline, so an app
-- server cannot forge an entry of Lookout's own trail), the acting account, the
-- token or API key used, the request id, the outcome (success, failure, denied),
-- and the transaction that wrote the row (see 0007).
ALTER TABLE admin_audit_logs ADD COLUMN IF NOT EXISTS platform BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE admin_audit_logs ADD COLUMN IF NOT EXISTS actor_account_id BIGINT;
ALTER TABLE admin_audit_logs ADD COLUMN IF NOT EXISTS token_id TEXT NOT NULL DEFAULT '';
ALTER TABLE admin_audit_logs ADD COLUMN IF NOT EXISTS request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE admin_audit_logs ADD COLUMN IF NOT EXISTS outcome TEXT NOT NULL DEFAULT 'success'
    CHECK (outcome IN ('success', 'failure', 'denied'));
ALTER TABLE admin_audit_logs ADD COLUMN IF NOT EXISTS txid BIGINT NOT NULL DEFAULT txid_current();
