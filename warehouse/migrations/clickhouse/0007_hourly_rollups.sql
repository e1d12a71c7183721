-- Per-hour rollups, for ranges of a day or more: a minute holds one api_metrics_1m row per service x endpoint x
-- method x status class, so seven days are over a million t-digest states to merge; an hour is 60 times fewer.
-- Kept exact the way 0006 keeps the minute rollups: never summed at insert, but recomputed from the raw tables
-- with FINAL (so a re-delivered batch, however it was cut, counts once) and replaced (ReplacingMergeTree on
-- refreshed_at). The refresh job (warehouse/rollup_refresh.py) recomputes an hour once it has ended, and again
-- whenever a late event marks one of its minutes in rollup_dirty_minutes (the markers of 0006). Until an hour is
-- rolled up here, reads take it from the minute rollups and the raw rows (warehouse/queries/rollups.py).
-- api_metrics_1h also carries the body sizes (sum, count of non-null, max), which the minute rollup lacks.

CREATE TABLE IF NOT EXISTS api_metrics_1h
(
    hour DateTime('UTC'),
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
    request_size_sum UInt64,
    request_size_count UInt64,
    request_size_max UInt64,
    response_size_sum UInt64,
    response_size_count UInt64,
    response_size_max UInt64,
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(hour), retention_days)
ORDER BY (service, endpoint, method, status_class, hour)
TTL hour + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS logs_1h
(
    hour DateTime('UTC'),
    service LowCardinality(String),
    level LowCardinality(String),
    retention_days UInt16,
    events UInt64,
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
PARTITION BY (toYYYYMMDD(hour), retention_days)
ORDER BY (service, level, hour)
TTL hour + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS system_metrics_1h
(
    hour DateTime('UTC'),
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
PARTITION BY (toYYYYMMDD(hour), retention_days)
ORDER BY (service, instance, metric_name, hour)
TTL hour + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

-- How far the hourly refresh has got: every marker up to processed_until is rolled up into its hour. It stays
-- before the first marker of an hour that has not ended yet, so that hour is read from the minute rollups.
CREATE TABLE IF NOT EXISTS rollup_hour_progress
(
    processed_until DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY processed_until
TTL toDateTime(processed_until) + toIntervalDay(7);

-- Hours already stored get rolled up by the job's first runs: one marker per hour (its first minute, which
-- the minute refresh recomputes too, harmlessly).
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'api_metrics', toStartOfHour(timestamp) FROM api_metrics;
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'logs', toStartOfHour(timestamp) FROM logs;
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'system_metrics', toStartOfHour(timestamp) FROM system_metrics;
