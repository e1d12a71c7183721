-- Rollups recomputed from the deduplicated raw rows instead of counted at insert.
-- The materialized views of 0005 counted every inserted block; a re-delivered
-- batch cut differently from its first delivery (after a crash, a rebalance or
-- a rewind) was counted twice. Now each insert only marks the minutes it
-- touched, and a refresh job (warehouse/rollups.py, run by the scheduler)
-- recomputes those minutes from the raw tables with FINAL and replaces their
-- rollup rows (ReplacingMergeTree on refreshed_at). Reads take rolled-up
-- minutes from here and the newest minutes from the raw tables
-- (warehouse/queries/metrics.py), so a chart is exact at any moment.

DROP VIEW IF EXISTS api_metrics_1m_mv;
DROP VIEW IF EXISTS logs_1m_mv;
DROP VIEW IF EXISTS system_metrics_1m_mv;
DROP TABLE IF EXISTS api_metrics_1m;
DROP TABLE IF EXISTS logs_1m;
DROP TABLE IF EXISTS system_metrics_1m;

CREATE TABLE IF NOT EXISTS api_metrics_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    endpoint String,
    method LowCardinality(String),
    status_class UInt8,
    retention_days UInt16,
    requests UInt64,
    errors UInt64,
    latency_sum_ms Float64,
    latency_max_ms Float64,
    latency_quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64),
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (service, endpoint, method, status_class, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS logs_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    level LowCardinality(String),
    retention_days UInt16,
    events UInt64,
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (service, level, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS system_metrics_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    instance LowCardinality(String),
    metric_name LowCardinality(String),
    retention_days UInt16,
    samples UInt64,
    value_sum Float64,
    value_min Float64,
    value_max Float64,
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (service, instance, metric_name, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

-- Minutes touched by inserts, marked when the insert runs. A deduplicated
-- (repeated) insert marks nothing; that is fine, it changed nothing.
CREATE TABLE IF NOT EXISTS rollup_dirty_minutes
(
    source LowCardinality(String),
    minute DateTime('UTC'),
    marked_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY marked_at
TTL toDateTime(marked_at) + toIntervalDay(7);

-- How far the refresh job has got: every marker up to processed_until is rolled up.
CREATE TABLE IF NOT EXISTS rollup_progress
(
    processed_until DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY processed_until
TTL toDateTime(processed_until) + toIntervalDay(7);

CREATE MATERIALIZED VIEW IF NOT EXISTS api_metrics_dirty_mv TO rollup_dirty_minutes AS
SELECT 'api_metrics' AS source, toStartOfMinute(timestamp) AS minute FROM api_metrics GROUP BY minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS logs_dirty_mv TO rollup_dirty_minutes AS
SELECT 'logs' AS source, toStartOfMinute(timestamp) AS minute FROM logs GROUP BY minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS system_metrics_dirty_mv TO rollup_dirty_minutes AS
SELECT 'system_metrics' AS source, toStartOfMinute(timestamp) AS minute FROM system_metrics GROUP BY minute;

-- Everything already stored gets rolled up by the job's first runs.
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'api_metrics', toStartOfMinute(timestamp) FROM api_metrics;
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'logs', toStartOfMinute(timestamp) FROM logs;
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'system_metrics', toStartOfMinute(timestamp) FROM system_metrics;
