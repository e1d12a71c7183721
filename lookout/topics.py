"""Creates Lookout's Kafka topics: one per event kind plus the dead-letter topic."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from lookout.contract import KINDS
from lookout.settings import Settings


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(kind) for kind in KINDS] + [settings.dead_letter_topic]


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics with the configured partition count; returns the ones created."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="lookout-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(name, settings.kafka_topic_partitions, settings.kafka_replication_factor)
                        for name in missing
                    ],
                    timeout_ms=int(timeout_s * 1000),
                )
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create
        return missing
    finally:
        admin.close()
