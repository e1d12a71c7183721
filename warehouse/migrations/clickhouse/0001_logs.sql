-- Application logs (the seed's server_logs).
-- ReplacingMergeTree on a sorting key that ends in event_id: a re-delivered
-- event has the same service, level and timestamp, so merges (and FINAL reads)
-- collapse it with its first copy.
-- retention_days is stored on every row and is part of the partition key, so a
-- part holds rows of one day and one retention; with ttl_only_drop_parts the
-- TTL then drops whole parts instead of rewriting them.
CREATE TABLE IF NOT EXISTS logs
(
    event_id UUID,
    timestamp DateTime64(3, 'UTC'),
    service LowCardinality(String),
    instance LowCardinality(String),
    level LowCardinality(String),
    message String,
    category LowCardinality(String),
    event_type LowCardinality(String),
    user_id String,
    admin_id String,
    session_id String,
    request_id String,
    correlation_id String,
    ip_address String,
    user_agent String,
    endpoint String,
    method LowCardinality(String),
    status_code Nullable(UInt16),
    response_time_ms Nullable(Float64),
    request_size_bytes Nullable(UInt64),
    response_size_bytes Nullable(UInt64),
    error_code String,
    error_message String,
    error_stack String,
    request_data String,
    response_data String,
    metadata String,
    retention_days UInt16,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    -- token index: whole-word search (hasToken) over messages
    INDEX idx_message_tokens lower(message) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1,
    -- ngram index: substring search (ILIKE '%...%') over messages
    INDEX idx_message_ngrams lower(message) TYPE ngrambf_v1(3, 65536, 2, 0) GRANULARITY 1,
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_correlation_id correlation_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMMDD(timestamp), retention_days)
ORDER BY (service, level, timestamp, event_id)
TTL toDateTime(timestamp) + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;
