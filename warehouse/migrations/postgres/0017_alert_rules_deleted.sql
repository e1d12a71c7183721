-- Deleting a rule keeps its row (marked deleted_at, disabled): its incidents,
-- their timelines and the notifications already sent keep pointing at it, and
-- the resolve notification queued as it is deleted can still be delivered
-- (the foreign keys of 0010 cascade, so a real DELETE would lose all of it).
-- The name is unique among live rules only, so a deleted name can be reused.
ALTER TABLE alert_rules ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;
ALTER TABLE alert_rules DROP CONSTRAINT IF EXISTS alert_rules_name_key;
CREATE UNIQUE INDEX IF NOT EXISTS alert_rules_live_name_idx ON alert_rules (name) WHERE deleted_at IS NULL;
-- The incidents list shows open ones first, then the most recent.
CREATE INDEX IF NOT EXISTS alert_incidents_recent_idx ON alert_incidents (started_at DESC);
