"""Integration tests: real Kafka, PostgreSQL and Redis servers, no mocks."""
