"""The stream driver: the one owner of a sink's KafkaConsumer, feeding the chain of steps.

It polls records and offers them to the chain (pipeline/steps/: batch -> write -> dead-letter ->
commit, assembled in pipeline/runner.py). When a step refuses a record (back-pressure: the writer
is busy or the sink is down) it pauses its partitions, keeps polling so it keeps its place in the
group, and offers the same record again; nothing is skipped and nothing piles up. The chain commits
through :meth:`StreamDriver._commit`, because KafkaConsumer is not thread-safe and only this thread
may touch it. The order of the chain is the delivery guarantee: offsets are committed only after
every event of the batch is written and every refused event is acknowledged by the dead-letter topic.

Rebalances and stops are handled here, in one place: the chain is joined (what it holds is written
and committed, within :data:`JOIN_TIMEOUT_S`), what it could not finish is sought back, and a fresh
chain is built for the new assignment. kafka-python (3.x) runs rebalance listeners on its IO thread
and refuses blocking calls such as commit() there, so the listener only notes the revocation and the
driver does this work after the poll that completed the rebalance. A partition that moved meanwhile
is not committed by us; its new owner re-reads it from the last commit, and the idempotent sinks
absorb what is written twice.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from lookout.records import events_in
from lookout.settings import Settings
from pipeline.steps.base import RETRY, Backoff, Commit, ConsumerStatus, MessageRejected, Offsets, Polled, Step, offer

log = logging.getLogger(__name__)

# A record carries up to a request's worth of events, so polls are kept small: a batch then closes
# near batch_max_rows and what waits in front of a refusing chain is bounded.
POLL_MAX_RECORDS = 500
# How long a rebalance or a stop lets the chain finish; longer only when the sink is down.
JOIN_TIMEOUT_S = 10.0

ChainFactory = Callable[[Commit], Step[Polled]]


def group_id(settings: Settings, sink: str) -> str:
    """The sink's consumer group: ``lookout-<sink>`` with the default topic prefix ``lookout.``.

    Another prefix names the group too (``staging.`` -> ``staging-<sink>``), so deployments or
    tests that share a Kafka cluster with their own topics never rebalance each other's consumers.
    """
    return f"{settings.kafka_topic_prefix.rstrip('.') or 'lookout'}-{sink}"


def connect(settings: Settings, name: str, topics: list[str], listener: ConsumerRebalanceListener) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=group_id(settings, name),
        client_id=f"lookout-{name}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
        max_poll_interval_ms=300_000,
    )
    consumer.subscribe(topics, listener=listener)
    return consumer


class StreamDriver:
    """Consumes ``topics`` as consumer group :func:`group_id` into the chains ``chain`` builds."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        topics: list[str],
        chain: ChainFactory,
        status: ConsumerStatus,
        *,
        connect: Callable[[Settings, str, list[str], ConsumerRebalanceListener], KafkaConsumer] = connect,
        backoff: Backoff = RETRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = name
        self.topics = topics
        self.status = status
        self._new_chain = chain
        self._connect_consumer = connect
        self._backoff = backoff
        self._clock = clock
        self._stop = threading.Event()
        self._revoked = threading.Event()  # set by the listener on kafka-python's IO thread
        self._consumer: KafkaConsumer | None = None
        self._chain: Step[Polled] | None = None
        self._held: deque[Polled] = deque()  # polled, not yet taken by the chain
        self._unfinished: dict[TopicPartition, int] = {}  # the first offset polled and not yet committed
        self._positions: dict[TopicPartition, int] = {}  # one past the last offset polled
        self._paused = False
        self._lag_updated = 0.0

    def stop(self) -> None:
        """Ask the loop to write and commit what was polled, and return (from a signal handler or another thread)."""
        self._stop.set()

    def run(self) -> None:
        # A PostgreSQL batch becomes hundreds of thousands of fresh tuples at once; the default
        # collector thresholds would walk them again and again while they are built (docs/benchmarks.md).
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        self._held.clear()
        self._unfinished.clear()
        self._positions.clear()
        self._paused = False
        consumer = self._consumer = self._connect()
        try:
            self._chain = self._new_chain(self._commit)
            while not self._stop.is_set():
                self._run_once(consumer)
            self._finish()
        finally:
            if self._chain is not None:  # crashed: give up the chain's work, uncommitted
                self._chain.terminate()
                self._chain = None
            consumer.close(autocommit=False)

    def _connect(self) -> KafkaConsumer:
        attempt = 0
        while True:
            try:
                return self._connect_consumer(self.settings, self.name, self.topics, _Revocation(self._revoked))
            except KafkaError as exc:
                self.status.retried(f"cannot connect to Kafka: {exc}")
                if self._stop.wait(self._backoff.delay(attempt)):
                    raise
                attempt += 1

    def _run_once(self, consumer: KafkaConsumer) -> None:
        # While the chain refuses, the partitions are paused and this poll only keeps our place in
        # the group (and lets a rebalance happen); the wait is on the chain (below), not on Kafka.
        polled = consumer.poll(timeout_ms=0 if self._held else 100, max_records=POLL_MAX_RECORDS)
        if self._revoked.is_set():
            self._reassign(consumer, polled)
        for tp, records in polled.items():
            self._hold(tp, records)
        rejected = self._offer()
        assert self._chain is not None
        self._chain.poll()  # after the offer: a batch closes once this poll's records are in
        if rejected is None:
            if self._paused:
                consumer.resume(*consumer.paused())
                self._paused = False
        else:
            if not self._paused:
                consumer.pause(*consumer.assignment())
                self._paused = True
            rejected.wait(0.1)
        self._update_lag(consumer)

    def _hold(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        for record in records:
            value = record.value or b""
            self._held.append(Polled(tp.topic, tp.partition, record.offset, value, events_in(value, record.headers)))
        self._unfinished.setdefault(tp, records[0].offset)
        self._positions[tp] = records[-1].offset + 1

    def _offer(self) -> MessageRejected | None:
        """Submit the held records in order, until the chain refuses one (returned)."""
        assert self._chain is not None
        while self._held:
            try:
                self._chain.submit(self._held[0])
            except MessageRejected as rejected:
                return rejected
            self._held.popleft()
        return None

    def _reassign(self, consumer: KafkaConsumer, polled: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """After a rebalance: finish the old chain, seek back what it left, start a fresh one.

        kafka-python keeps the position of a partition that stays with this member, so records
        polled and not committed are sought back (and this poll's records of those partitions
        dropped: they are read again from there); without the seek they would be skipped.
        """
        self._revoked.clear()
        assert self._chain is not None
        self._chain.join(JOIN_TIMEOUT_S)  # if it raises, run() terminates it
        self._chain = None
        self._held.clear()
        assigned = consumer.assignment()
        for tp, first in self._unfinished.items():
            if tp in assigned:
                consumer.seek(tp, first)
                polled.pop(tp, None)
                self._positions[tp] = first
        self._unfinished.clear()
        self._positions = {tp: offset for tp, offset in self._positions.items() if tp in assigned}
        consumer.resume(*consumer.paused())
        self._paused = False
        self._chain = self._new_chain(self._commit)

    def _finish(self) -> None:
        """Graceful stop (SIGTERM): what was polled is written and committed, not read again."""
        assert self._chain is not None
        deadline = self._clock() + JOIN_TIMEOUT_S
        while self._held and offer(self._chain, self._held[0], deadline, self._clock):
            self._held.popleft()
        self._chain.join(max(0.0, deadline - self._clock()))
        self._chain = None

    def _commit(self, offsets: Offsets) -> None:
        consumer = self._consumer
        assert consumer is not None
        # Only partitions still ours: the group coordinator would accept a commit for a partition that
        # moved to another member, and move that member's committed offset under it.
        assigned = consumer.assignment()
        commits = {
            tp: OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
            if (tp := TopicPartition(topic, partition)) in assigned
        }
        try:
            if commits:
                consumer.commit(commits)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance is under way: whoever reads these partitions next re-reads these records,
            # and the idempotent sinks drop the repeats. They are written, so not sought back here.
            log.warning("offset commit failed after a rebalance", extra={"sink": self.name, "error": str(exc)})
        for tp, meta in commits.items():
            if self._positions.get(tp, 0) > meta.offset:
                self._unfinished[tp] = meta.offset
            else:
                self._unfinished.pop(tp, None)

    def _update_lag(self, consumer: KafkaConsumer) -> None:
        """Lag per partition from the broker's high-water mark (sent with every fetch) and our position."""
        now = self._clock()
        if now - self._lag_updated < 1.0:
            return
        self._lag_updated = now
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag[f"{tp.topic}:{tp.partition}"] = max(0, highwater - self._positions.get(tp, highwater))
        self.status.lag = lag


class _Revocation(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread, where blocking consumer calls are refused: it only tells the driver."""

    def __init__(self, revoked: threading.Event) -> None:
        self._revoked = revoked

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self._revoked.set()

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass
