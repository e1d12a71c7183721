"""What a rebalance does to the batch in flight and the batch being filled (fakes for Kafka and the sink).

Pure logic: the real consumer's revocation callback, driven step by step. The same paths run against a
real broker in tests/integration/test_delivery.py (group churn, sink outage during worker changes).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import TopicPartition

from lookout.settings import Settings
from pipeline.consumer import SinkConsumer
from pipeline.sinks import SinkUnavailable
from warehouse.tables import Table


class FakeKafka:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def positions(self) -> dict[TopicPartition, int]:
        """Where each partition would be read next: the last seek wins."""
        return dict(self.seeks)


class FakeSink:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.writes: list[tuple[str, int, str]] = []

    def record_payload(self, value: bytes) -> bytes:
        return value[1:-1]

    def event_payload(self, table: Table, event: Any) -> Any:
        raise AssertionError("not expected")

    def write(self, table: Table, payloads: list[Any], dedup_token: str) -> None:
        if self.fail:
            raise SinkUnavailable("down")
        self.writes.append((table.name, len(payloads), dedup_token))

    def close(self) -> None:
        pass


class FakeDeadLetters:
    def send(self, letters: list[Any]) -> None:
        assert not letters

    def close(self) -> None:
        pass


TOPIC = "t.log"


def _consumer(sink: FakeSink, kafka: FakeKafka) -> SinkConsumer:
    settings = Settings.from_env({"LOOKOUT_KAFKA_TOPIC_PREFIX": "t."})
    consumer = SinkConsumer(settings, "clickhouse", ["log"], lambda: sink)
    consumer._consumer = kafka  # type: ignore[assignment]
    consumer._sink = sink
    consumer._dlq = FakeDeadLetters()  # type: ignore[assignment]
    consumer._writer = ThreadPoolExecutor(max_workers=1)
    return consumer


def _fill(consumer: SinkConsumer, partition: int, offsets: range) -> None:
    for offset in offsets:
        consumer._batch.add(TOPIC, partition, offset, b'[{"kind":"log"}]', 1)


def test_a_written_batch_in_flight_is_committed_and_the_filling_batch_is_sought_back():
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    kafka, sink = FakeKafka({p0, p1}), FakeSink(fail=False)
    consumer = _consumer(sink, kafka)
    _fill(consumer, 0, range(10, 20))
    _fill(consumer, 1, range(5, 8))
    consumer._submit()  # offsets 10-19 and 5-7 are being written
    _fill(consumer, 0, range(20, 25))  # polled meanwhile

    consumer.revoked()

    assert sink.writes == [("logs", 13, "t.log:0:10-19,1:5-7")]
    assert kafka.commits == [{p0: 20, p1: 8}]
    assert kafka.positions() == {p0: 20}  # the unwritten records are read again, not skipped
    assert consumer.status.rows_written == 13 and consumer._inflight is None and not consumer._batch


def test_a_failed_batch_in_flight_is_not_committed_and_both_batches_are_read_again():
    p0, p1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    kafka, sink = FakeKafka({p0, p1}), FakeSink(fail=True)
    consumer = _consumer(sink, kafka)
    _fill(consumer, 0, range(10, 20))
    _fill(consumer, 1, range(5, 8))
    consumer._submit()
    _fill(consumer, 0, range(20, 25))
    _fill(consumer, 1, range(8, 9))

    consumer.revoked()

    assert kafka.commits == []
    assert kafka.positions() == {p0: 10, p1: 5}  # back to the first unwritten record of each partition
    assert consumer.status.rows_written == 0 and consumer._inflight is None and not consumer._batch


def test_partitions_that_moved_away_are_neither_committed_nor_sought():
    p0 = TopicPartition(TOPIC, 0)
    kafka, sink = FakeKafka({p0}), FakeSink(fail=False)
    consumer = _consumer(sink, kafka)
    _fill(consumer, 0, range(0, 3))
    _fill(consumer, 1, range(0, 3))
    consumer._submit()
    _fill(consumer, 1, range(3, 4))

    consumer.revoked()

    assert kafka.commits == [{p0: 3}]  # p1 is another member's now: it re-reads from its committed offset
    assert kafka.positions() == {}
