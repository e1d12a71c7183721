-- The audit trail page lists the platform's rows newest first, filtered by action,
-- actor or resource; the commit-time check of 0007 looks rows up by transaction.
CREATE INDEX IF NOT EXISTS admin_audit_logs_platform_time_idx
    ON admin_audit_logs (timestamp DESC) WHERE platform;
CREATE INDEX IF NOT EXISTS admin_audit_logs_action_idx ON admin_audit_logs (action, timestamp DESC);
CREATE INDEX IF NOT EXISTS admin_audit_logs_txid_idx ON admin_audit_logs (txid) WHERE platform;
