-- Per service, without endpoint, method and status class, by minute and by hour: the panels that group by time or
-- service alone (request rate, errors, latency, services, ingest) merge one t-digest state per service-minute or
-- service-hour instead of one per service x endpoint x method x status class (~30x fewer rows here;
-- docs/benchmarks.md). Kept exact like 0006's and 0007's tables: recomputed from the raw rows with FINAL by the
-- refresh job, with the same markers and progress as the other minute and hour tables
-- (warehouse/rollup_refresh.py), and replaced (ReplacingMergeTree on refreshed_at).
-- errors counts 5xx answers, errors_4xx the 4xx ones (status codes are 100-599 by the contract).

CREATE TABLE IF NOT EXISTS api_services_1m
(
    minute DateTime('UTC'),
    service LowCardinality(String),
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
ORDER BY (service, minute)
TTL minute + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS api_services_1h
(
    hour DateTime('UTC'),
    service LowCardinality(String),
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
ORDER BY (service, hour)
TTL hour + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1;

-- Minutes (and so hours) already stored get rolled up by the job's first runs.
INSERT INTO rollup_dirty_minutes (source, minute) SELECT DISTINCT 'api_metrics', toStartOfMinute(timestamp) FROM api_metrics;
