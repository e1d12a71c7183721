-- Login abuse (failed_login, account_locked, login_throttled) is investigated by
-- type and address; the security pages filter on event_type over a time range.
CREATE INDEX IF NOT EXISTS security_events_type_idx ON security_events (event_type, timestamp DESC);
