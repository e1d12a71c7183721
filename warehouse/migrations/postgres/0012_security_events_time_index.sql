-- Alert rules on security events read the last few minutes (warehouse/queries/alert_queries.py),
-- filtered by type or not at all, which no index of 0002 serves: without this one each such rule
-- scanned the month's partition (~100 ms per rule with 2 M events a day, bench/alerts.py).
CREATE INDEX IF NOT EXISTS security_events_time_idx ON security_events (timestamp DESC);
