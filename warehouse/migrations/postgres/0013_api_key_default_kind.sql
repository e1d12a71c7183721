-- The kind given to events that arrive without one on the routes that take other tools' formats
-- (Elasticsearch _bulk, Loki push, syslog and shipper HTTP outputs); Lookout's own route still requires it.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS default_kind TEXT NOT NULL DEFAULT 'log'
    CHECK (default_kind IN ('log', 'api_metric', 'system_metric', 'blockchain_event', 'admin_audit', 'security_event'));
