"""Real Kafka, PostgreSQL and Redis servers on 127.0.0.1 for development, tests and CI.

Nothing is installed: the servers come from the machine (PostgreSQL, Redis,
Java) and from Maven Central (the Kafka jars, cached once per machine).
"""

from app.stack.base import ServiceStatus, StackError
from app.stack.kafka import fetch_kafka, kafka_libs_dir, producer_perf_test
from app.stack.stack import Stack

__all__ = ["ServiceStatus", "Stack", "StackError", "fetch_kafka", "kafka_libs_dir", "producer_perf_test"]
