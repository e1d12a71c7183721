"""Creates Lookout's Kafka topics: one per event kind plus the dead-letter topic, replicated as configured."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from lookout.contract import KINDS
from lookout.settings import Settings


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(kind) for kind in KINDS] + [settings.dead_letter_topic]


def min_insync_replicas(replication_factor: int) -> int:
    """Replicas that must have a record before it is acknowledged (producers use acks=all).

    A majority: with three replicas an acknowledged record survives the loss of any one broker,
    and writes go on while one is down.
    """
    return replication_factor // 2 + 1


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics with the configured partitions and replicas; returns the ones created.

    Topics that exist are left as they are (changing their replication is a reassignment, an
    operator's decision).
    """
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="lookout-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        if missing:
            replicas = settings.kafka_replication_factor
            config = {"min.insync.replicas": str(min_insync_replicas(replicas))}
            try:
                admin.create_topics(
                    [
                        NewTopic(name, settings.kafka_topic_partitions, replicas, topic_configs=config)
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
