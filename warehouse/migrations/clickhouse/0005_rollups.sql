-- Per-minute rollups, kept by materialized views, so charts and alert rules
-- over long ranges read thousands of rows instead of millions.
-- Sums and counts are SimpleAggregateFunction (merged by adding); latency
-- quantiles are t-digest states (merged exactly as ClickHouse merges states).
-- A re-delivered batch is dropped at insert by its deduplication token (see
-- pipeline/sinks.py) and so never reaches these views twice.

CREATE TABLE IF NOT EXISTS api_metrics_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    endpoint String,
    method LowCardinality(String),
    status_class UInt8,
    retention_days UInt16,
    requests SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    latency_sum_ms SimpleAggregateFunction(sum, Float64),
    latency_max_ms SimpleAggregateFunction(max, Float64),
    latency_quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (service, endpoint, method, status_class, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS api_metrics_1m_mv TO api_metrics_1m AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    service,
    endpoint,
    method,
    toUInt8(intDiv(status_code, 100)) AS status_class,
    retention_days,
    count() AS requests,
    countIf(status_code >= 500) AS errors,
    sum(response_time_ms) AS latency_sum_ms,
    max(response_time_ms) AS latency_max_ms,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(response_time_ms) AS latency_quantiles
FROM api_metrics
GROUP BY minute, service, endpoint, method, status_class, retention_days;

CREATE TABLE IF NOT EXISTS logs_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    level LowCardinality(String),
    retention_days UInt16,
    events SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (service, level, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS logs_1m_mv TO logs_1m AS
SELECT toStartOfMinute(timestamp) AS minute, service, level, retention_days, count() AS events
FROM logs
GROUP BY minute, service, level, retention_days;

CREATE TABLE IF NOT EXISTS system_metrics_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
    instance LowCardinality(String),
    metric_name LowCardinality(String),
    retention_days UInt16,
    samples SimpleAggregateFunction(sum, UInt64),
    value_sum SimpleAggregateFunction(sum, Float64),
    value_min SimpleAggregateFunction(min, Float64),
    value_max SimpleAggregateFunction(max, Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY (toYYYYMMDD(minute), retention_days)
ORDER BY (service, instance, metric_name, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS system_metrics_1m_mv TO system_metrics_1m AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    service,
    instance,
    metric_name,
    retention_days,
    count() AS samples,
    sum(value) AS value_sum,
    min(value) AS value_min,
    max(value) AS value_max
FROM system_metrics
GROUP BY minute, service, instance, metric_name, retention_days;
