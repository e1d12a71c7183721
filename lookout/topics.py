"""Creates Lookout's Kafka topics: one per event kind plus the dead-letter topic."""

from __future__ import annotations

import time

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
            _wait_for_leaders(admin, missing, timeout_s)
        return missing
    finally:
        admin.close()


def _wait_for_leaders(admin: KafkaAdminClient, topics: list[str], timeout_s: float) -> None:
    """Return once every partition of ``topics`` has a leader.

    A topic is usable a moment after its creation is acknowledged; producing in
    that moment fails, which would make the first requests of a fresh platform
    answer 503 and its clients back off.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = admin.describe_topics(topics)
        if all(_has_leaders(topic) for topic in described):
            return
        time.sleep(0.1)


def _has_leaders(topic: dict) -> bool:
    partitions = topic.get("partitions") or []
    return not topic.get("error_code") and bool(partitions) and all(p.get("leader_id", -1) >= 0 for p in partitions)
