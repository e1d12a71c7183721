-- Per endpoint (service, method, path), without the status class, by minute and by hour: the endpoint rankings,
-- the API page's endpoint table and the slowest requests' floor merge one t-digest state per endpoint-minute or
-- endpoint-hour instead of one per endpoint x status class (5xx and 4xx are counted beside it, as in 0008).
-- Kept exact like 0006-0008's tables: recomputed from the raw rows with FINAL by the refresh job, with the same
-- markers and progress as the other minute and hour tables (warehouse/rollup_refresh.py), and replaced
-- (ReplacingMergeTree on refreshed_at).
-- The minute table is sorted by hour first: ranges of a day or more read it only for the hours they cut at either
-- end (and hours not rolled up yet), so those hours' granules are read, not their whole day partition (with
-- service leading, every service's rows of the day held some of the cut minutes). Only these panels read it; the
-- month-long "last event seen" look-back reads api_services_1m, whose key still starts with service.

CREATE TABLE IF NOT EXISTS api_endpoints_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    endpoint String,
    method LowCardinality(String),
    retention_days UInt16,
    requests UInt64,
    errors UInt64,
    errors_4xx UInt64,
    latency_sum_ms Float64,
    latency_max_ms Float64,
    latency_quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64),
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (toStartOfHour(minute), service, endpoint, method, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS api_endpoints_1h
(
    hour DateTime('UTC'),
    service LowCardinality(String),
    endpoint String,
    method LowCardinality(String),
    retention_days UInt16,
    requests UInt64,
    errors UInt64,
    errors_4xx UInt64,
    latency_sum_ms Float64,
    latency_max_ms Float64,
    latency_quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64),
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(hour), retention_days)
ORDER BY (service, endpoint, method, hour)
TTL hour + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

-- Minutes (and so hours) already stored get rolled up by the job's first runs.
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'api_metrics', toStartOfMinute(timestamp) FROM api_metrics;
