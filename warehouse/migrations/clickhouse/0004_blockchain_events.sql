-- Blockchain events; bloom filters serve the exact lookups by transaction and contract.
CREATE TABLE IF NOT EXISTS blockchain_events
(
    event_id UUID,
    timestamp DateTime64(3, 'UTC'),
    service LowCardinality(String),
    instance LowCardinality(String),
    event_type LowCardinality(String),
    contract_address String,
    transaction_hash String,
    block_number Nullable(UInt64),
    block_hash String,
    log_index Nullable(UInt32),
    event_signature String,
    decoded_data String,
    raw_data String,
    processed Bool,
    processing_attempts UInt32,
    last_processing_error String,
    processed_at Nullable(DateTime64(3, 'UTC')),
    metadata String,
    retention_days UInt16,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_transaction_hash transaction_hash TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_contract_address contract_address TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY (toYYYYMMDD(timestamp), retention_days)
ORDER BY (service, event_type, timestamp, event_id)
TTL toDateTime(timestamp) + toIntervalDay(retention_days)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;
