"""The collector: the public HTTP ingestion API that validates, authenticates and produces events to Kafka."""
