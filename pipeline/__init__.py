"""The pipeline: Kafka consumers that batch events into ClickHouse and PostgreSQL, effectively once."""
