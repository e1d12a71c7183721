-- The transactional event kinds: the admin audit trail and security events.
-- Both are partitioned by month (as the seed suggests) so retention drops whole
-- partitions. A unique key on a partitioned table must contain the partition
-- key, so uniqueness is (event_id, timestamp): a re-delivered event carries the
-- same timestamp, so ON CONFLICT on this key is exactly "on event_id".
-- No foreign keys to users: Lookout never sees the app servers' user tables.
CREATE TABLE IF NOT EXISTS admin_audit_logs (
    event_id UUID NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    service TEXT NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    admin_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT '',
    resource_id TEXT NOT NULL DEFAULT '',
    old_values JSONB,
    new_values JSONB,
    ip_address INET,
    user_agent TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    justification TEXT NOT NULL DEFAULT '',
    approval_required BOOLEAN NOT NULL DEFAULT false,
    approved_by TEXT NOT NULL DEFAULT '',
    approved_at TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}',
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE INDEX IF NOT EXISTS admin_audit_logs_resource_idx ON admin_audit_logs (resource_type, resource_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS admin_audit_logs_admin_idx ON admin_audit_logs (admin_id, timestamp DESC);
CREATE TABLE IF NOT EXISTS admin_audit_logs_default PARTITION OF admin_audit_logs DEFAULT;

CREATE TABLE IF NOT EXISTS security_events (
    event_id UUID NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    service TEXT NOT NULL,
    instance TEXT NOT NULL DEFAULT '',
    event_type TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    user_id TEXT NOT NULL DEFAULT '',
    ip_address INET,
    user_agent TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL DEFAULT '',
    threat_indicators JSONB,
    automatic_action_taken TEXT NOT NULL DEFAULT '',
    investigated BOOLEAN NOT NULL DEFAULT false,
    investigated_by TEXT NOT NULL DEFAULT '',
    investigation_notes TEXT NOT NULL DEFAULT '',
    false_positive BOOLEAN NOT NULL DEFAULT false,
    metadata JSONB NOT NULL DEFAULT '{}',
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE INDEX IF NOT EXISTS security_events_severity_idx ON security_events (severity, timestamp DESC);
CREATE INDEX IF NOT EXISTS security_events_ip_idx ON security_events (ip_address, timestamp DESC);
CREATE INDEX IF NOT EXISTS security_events_open_idx ON security_events (timestamp DESC) WHERE NOT investigated;
CREATE TABLE IF NOT EXISTS security_events_default PARTITION OF security_events DEFAULT;

-- Creates the monthly partitions of `parent` for `months` months starting at
-- the month of `first_month`; called by migrations and by the retention job.
CREATE OR REPLACE FUNCTION lookout_ensure_monthly_partitions(parent TEXT, first_month DATE, months INTEGER)
RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    month_start DATE;
    partition_name TEXT;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        month_start := (date_trunc('month', first_month) + make_interval(months => i))::DATE;
        partition_name := format('%s_%s', parent, to_char(month_start, 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                partition_name, parent, month_start, (month_start + INTERVAL '1 month')::DATE
            );
        END IF;
    END LOOP;
END;
$$;

SELECT lookout_ensure_monthly_partitions('admin_audit_logs', (now() - INTERVAL '1 month')::DATE, 4);
SELECT lookout_ensure_monthly_partitions('security_events', (now() - INTERVAL '1 month')::DATE, 4);
