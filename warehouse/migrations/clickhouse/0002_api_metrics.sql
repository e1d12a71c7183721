-- Per-request API metrics. Sorted for the latency/error charts: service, then
-- endpoint, then time; event_id last so re-deliveries collapse (see 0001).
CREATE TABLE IF NOT EXISTS api_metrics
(
    event_id UUID,
    timestamp DateTime64(3, 'UTC'),
    service LowCardinality(String),
    instance LowCardinality(String),
    endpoint String,
    method LowCardinality(String),
    status_code UInt16,
    response_time_ms Float64,
    request_size_bytes Nullable(UInt64),
    response_size_bytes Nullable(UInt64),
    cache_hit Bool,
    user_id String,
    error_type LowCardinality(String),
    database_query_time_ms Nullable(Float64),
    external_api_time_ms Nullable(Float64),
    concurrent_requests Nullable(UInt32),
    memory_usage_mb Nullable(Float64),
    cpu_usage_percent Nullable(Float64),
    metadata String,
    retention_days UInt16,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMMDD(timestamp), retention_days)
ORDER BY (service, endpoint, timestamp, event_id)
TTL toDateTime(timestamp) + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;
