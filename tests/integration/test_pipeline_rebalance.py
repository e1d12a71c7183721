"""Two stream drivers of one consumer group against the real broker and PostgreSQL: a member joins
and another leaves while events flow; each rebalance is handled by the driver (old chain joined and
committed, what it left sought back, a fresh chain), never by a crash, and every event is written
exactly once. The exact-count scenarios with real processes are in test_delivery.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import orjson
import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from lookout.settings import Settings
from lookout.topics import ensure_topics
from pipeline.consumer import StreamDriver, group_id
from pipeline.runner import sink_consumer
from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration


class Running:
    """A driver on a thread, with whatever its run() raised."""

    def __init__(self, driver: StreamDriver) -> None:
        self.driver = driver
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name=f"test-{driver.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.driver.run()
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            self.errors.append(exc)

    def stop(self) -> None:
        self.driver.stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the driver did not stop"


@pytest.fixture
def lane(settings: Settings) -> Iterator[Settings]:
    prefix = f"r{uuid.uuid4().hex[:12]}."
    lane = settings.with_(kafka_topic_prefix=prefix, batch_max_rows=300, batch_max_wait_s=0.2)
    ensure_topics(lane)
    yield lane


def produce(lane: Settings, service: str, count: int) -> list[str]:
    topic, now = lane.topic("security_event"), int(time.time() * 1000)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    producer = KafkaProducer(bootstrap_servers=lane.kafka_bootstrap.split(","), acks="all")
    try:
        for n, start in enumerate(range(0, count, 50)):
            events = [
                {"kind": "security_event", "event_id": event_id, "ts": now, "service": service, "instance": ""}
                | {"event_type": "login_failed", "severity": "low"}
                for event_id in ids[start : start + 50]
            ]
            producer.send(topic, value=orjson.dumps(events), partition=n % lane.kafka_topic_partitions)
        producer.flush(30)
    finally:
        producer.close()
    return ids


def written(lane: Settings, service: str) -> list[str]:
    with psycopg.connect(lane.postgres_dsn) as conn:
        rows = conn.execute("SELECT event_id::text FROM security_events WHERE service = %s", (service,)).fetchall()
    return [row[0] for row in rows]


def uncommitted(lane: Settings) -> int:
    topic = lane.topic("security_event")
    partitions = [TopicPartition(topic, p) for p in range(lane.kafka_topic_partitions)]
    consumer = KafkaConsumer(bootstrap_servers=lane.kafka_bootstrap.split(","), enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=lane.kafka_bootstrap.split(","))
    try:
        ends = consumer.end_offsets(partitions)
        group = group_id(lane, "postgres")
        committed = {tp: meta.offset for tp, meta in admin.list_group_offsets({group: None})[group].items()}
    finally:
        consumer.close()
        admin.close()
    return sum(ends[tp] - max(committed.get(tp, 0), 0) for tp in partitions)


def test_members_joining_and_leaving_are_rebalances_not_crashes_and_lose_and_repeat_nothing(lane: Settings) -> None:
    assert lane.kafka_topic_partitions >= 2, "a rebalance needs partitions to share"
    service = f"rebalance-{uuid.uuid4().hex[:8]}"
    sent = produce(lane, service, 3000)
    a = Running(sink_consumer(lane, "postgres"))
    eventually(lambda: len(written(lane, service)) >= 300, timeout_s=60)
    b = Running(sink_consumer(lane, "postgres"))  # a rebalance while a is writing
    eventually(lambda: b.driver.status.lag, timeout_s=90)  # b has partitions (its lag is exported per partition)
    sent += produce(lane, service, 3000)
    eventually(lambda: b.driver.status.rows_written > 0, timeout_s=90)
    a.stop()  # and another rebalance as a leaves
    sent += produce(lane, service, 1500)
    eventually(lambda: len(written(lane, service)) >= len(sent), timeout_s=90)
    eventually(lambda: uncommitted(lane) == 0, timeout_s=60)
    b.stop()

    assert a.errors == [] and b.errors == []  # the rebalances never went through a crash and a restart
    rows = written(lane, service)
    assert len(rows) == len(set(rows)) == len(sent) and set(rows) == set(sent)
    assert a.driver.status.rows_written > 0 and b.driver.status.rows_written > 0
    assert a.driver.status.retries == 0 and b.driver.status.retries == 0


def inserts_waiting(lane: Settings) -> int:
    with psycopg.connect(lane.postgres_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO%'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_rebalance_while_a_write_is_held_finishes_it_and_reads_again_what_the_chain_had_refused(
    lane: Settings,
) -> None:
    service = f"rebalance-{uuid.uuid4().hex[:8]}"
    sent = produce(lane, service, 1500)
    a = Running(sink_consumer(lane, "postgres"))
    eventually(lambda: len(written(lane, service)) >= len(sent), timeout_s=60)
    locker = psycopg.connect(lane.postgres_dsn)
    release = threading.Timer(3.0, locker.rollback)  # how long the table stays locked
    try:
        # A table lock holds a's next insert: its batcher fills the following batch and then refuses,
        # so the driver holds records and pauses. The rebalance comes in the middle of that.
        locker.execute("LOCK TABLE security_events IN SHARE ROW EXCLUSIVE MODE")
        sent += produce(lane, service, 3000)
        eventually(lambda: inserts_waiting(lane) > 0, timeout_s=30, interval_s=0.05)
        b = Running(sink_consumer(lane, "postgres"))
        release.start()
        eventually(lambda: b.driver.status.lag, timeout_s=90)
    finally:
        if release.is_alive():
            release.join()
        locker.close()  # rolls back, so the lock is gone even if the timer never ran
    sent += produce(lane, service, 1500)
    eventually(lambda: len(written(lane, service)) >= len(sent), timeout_s=90)
    eventually(lambda: uncommitted(lane) == 0, timeout_s=60)
    a.stop()
    b.stop()

    assert a.errors == [] and b.errors == []
    rows = written(lane, service)
    assert len(rows) == len(set(rows)) == len(sent) and set(rows) == set(sent)
