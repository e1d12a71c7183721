-- Host and process metrics; the seed's server_instance is the envelope's instance.
CREATE TABLE IF NOT EXISTS system_metrics
(
    event_id UUID,
    timestamp DateTime64(3, 'UTC'),
    service LowCardinality(String),
    instance LowCardinality(String),
    metric_type LowCardinality(String),
    metric_name LowCardinality(String),
    value Float64,
    unit LowCardinality(String),
    threshold_warning Nullable(Float64),
    threshold_critical Nullable(Float64),
    metadata String,
    retention_days UInt16,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMMDD(timestamp), retention_days)
ORDER BY (service, instance, metric_name, timestamp, event_id)
TTL toDateTime(timestamp) + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;
