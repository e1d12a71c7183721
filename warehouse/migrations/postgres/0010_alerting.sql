-- Alerting: rules, their evaluation state, incidents with a timeline, silences,
-- channels and the notification outbox with every delivery attempt.

-- Where notifications go. `secret` is the webhook's HMAC key or PagerDuty's
-- routing key: it must be readable to sign or send, so it cannot be hashed; it
-- is never exported, logged or shown back.
CREATE TABLE IF NOT EXISTS alert_channels (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL CHECK (type IN ('webhook', 'slack', 'email', 'pagerduty')),
    config JSONB NOT NULL DEFAULT '{}',
    secret TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A rule is stored as the document rules-as-code reads and writes
-- (alerts/rules.py validates it); `enabled` and `interval_s` are copied out
-- so the scheduler finds due rules without parsing every definition.
CREATE TABLE IF NOT EXISTS alert_rules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition JSONB NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT true,
    interval_s INTEGER NOT NULL CHECK (interval_s > 0),
    builtin BOOLEAN NOT NULL DEFAULT false,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by TEXT NOT NULL DEFAULT ''
);

-- What a rule remembers between evaluations (alerts.engine.Runtime as JSON).
-- fencing_token: each Redis lease on the rule comes with a larger token; a
-- write carrying a smaller token than the stored one comes from a holder whose
-- lease expired, and is refused (alerts/evaluation.py).
CREATE TABLE IF NOT EXISTS alert_rule_state (
    rule_id BIGINT PRIMARY KEY REFERENCES alert_rules (id) ON DELETE CASCADE,
    fencing_token BIGINT NOT NULL DEFAULT 0,
    runtime JSONB NOT NULL DEFAULT '{}',
    memo JSONB NOT NULL DEFAULT '{}',
    last_evaluated_at TIMESTAMPTZ,
    last_error TEXT NOT NULL DEFAULT '',
    evaluated_by TEXT NOT NULL DEFAULT ''
);

-- One incident per rule and group key while it is open (the fingerprint);
-- a new one once it has resolved.
CREATE TABLE IF NOT EXISTS alert_incidents (
    id BIGSERIAL PRIMARY KEY,
    rule_id BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    group_key JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('pending', 'firing', 'resolved')),
    severity TEXT NOT NULL DEFAULT '',
    started_at TIMESTAMPTZ NOT NULL,
    firing_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    last_value DOUBLE PRECISION,
    acknowledged_by TEXT,
    acknowledged_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS alert_incidents_open_idx ON alert_incidents (fingerprint) WHERE resolved_at IS NULL;
CREATE INDEX IF NOT EXISTS alert_incidents_rule_idx ON alert_incidents (rule_id, started_at DESC);

CREATE TABLE IF NOT EXISTS alert_incident_events (
    id BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES alert_incidents (id) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL,
    kind TEXT NOT NULL,
    value DOUBLE PRECISION,
    detail TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_incident_events_incident_idx ON alert_incident_events (incident_id, at);

CREATE TABLE IF NOT EXISTS alert_silences (
    id BIGSERIAL PRIMARY KEY,
    matchers JSONB NOT NULL CHECK (jsonb_typeof(matchers) = 'object' AND matchers <> '{}'),
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    author TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS alert_silences_active_idx ON alert_silences (ends_at);

-- The outbox: a notification is queued in the same transaction as the state
-- that decided it, then delivered (and retried) by the delivery job.
CREATE TABLE IF NOT EXISTS alert_notifications (
    id BIGSERIAL PRIMARY KEY,
    rule_id BIGINT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    incident_ids BIGINT[] NOT NULL DEFAULT '{}',
    kind TEXT NOT NULL,
    payload JSONB NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS alert_notifications_due_idx ON alert_notifications (next_attempt_at) WHERE status = 'queued';

CREATE TABLE IF NOT EXISTS alert_notification_attempts (
    id BIGSERIAL PRIMARY KEY,
    notification_id BIGINT NOT NULL REFERENCES alert_notifications (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ok BOOLEAN NOT NULL,
    status_code INTEGER,
    error TEXT NOT NULL DEFAULT '',
    duration_ms DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_notification_attempts_idx ON alert_notification_attempts (notification_id, attempt);
