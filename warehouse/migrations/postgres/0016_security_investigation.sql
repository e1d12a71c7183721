-- The investigation workflow of the security page: the seed's investigated,
-- investigated_by, investigation_notes and false_positive columns (0002), plus
-- when the event was investigated. Written by the dashboards only, each change
-- with its audit row in the same transaction (access/security_review.py).
ALTER TABLE security_events ADD COLUMN IF NOT EXISTS investigated_at TIMESTAMPTZ;
-- The navigation bar counts uninvestigated critical events on every page view;
-- this index holds only those rows, so the count reads a handful of entries.
CREATE INDEX IF NOT EXISTS security_events_open_critical_idx ON security_events (timestamp DESC)
    WHERE NOT investigated AND severity = 'critical';
