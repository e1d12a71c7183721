"""One sink's consumer loop: poll -> batch -> write -> dead-letter -> commit.

The order of that chain is the delivery guarantee: offsets are committed only
after every event of the batch is durably written and every refused event is
acknowledged by the dead-letter topic. The write of one batch runs on a writer
thread while the next batch is polled; commits stay in batch order. When the sink is down the consumer
pauses its partitions and retries the same batch with capped exponential
backoff; it never skips. A crash at any point re-delivers from the last
commit, and the idempotent sinks absorb the repeats.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from lookout.records import events_in
from lookout.settings import Settings
from pipeline.batch import Batch, DeadLetter, Record, Source, decode_records
from pipeline.dlq import DeadLetterQueue, DeadLetterUnavailable
from pipeline.sinks import Sink, SinkRejected, SinkUnavailable
from warehouse.tables import TABLES, Table

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ConsumerStatus:
    """What the loop exports: counters, the paused state and the lag per partition."""

    name: str
    rows_written: int = 0
    dead_lettered: int = 0
    batches: int = 0
    paused: bool = False
    last_error: str = ""
    retries: int = 0
    lag: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> records behind


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter (as in AWS's and Alertmanager's retries)."""

    base_s: float = 0.2
    cap_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


POLL_MAX_RECORDS = 500


def group_id(settings: Settings, sink: str) -> str:
    """The sink's consumer group: ``lookout-<sink>`` with the default topic prefix ``lookout.``.

    Another prefix names the group too (``staging.`` -> ``staging-<sink>``), so deployments or
    tests that share a Kafka cluster with their own topics never rebalance each other's consumers.
    """
    return f"{settings.kafka_topic_prefix.rstrip('.') or 'lookout'}-{sink}"


def isolate(write: Callable[[int, int], None], count: int) -> list[tuple[int, str]]:
    """Write items [0, count) through ``write(lo, hi)``, bisecting around the ones it refuses.

    ``write`` raises :class:`SinkRejected` when it refuses a slice. Returns (index, reason) of every
    item refused on its own; the good items beside them are written. With one bad item among n this
    takes about 2·log2(n) writes.
    """
    refused: list[tuple[int, str]] = []

    def attempt(lo: int, hi: int) -> None:
        if lo == hi:
            return
        try:
            write(lo, hi)
        except SinkRejected as exc:
            if hi - lo == 1:
                refused.append((lo, str(exc)))
                return
            middle = (lo + hi) // 2
            attempt(lo, middle)
            attempt(middle, hi)

    attempt(0, count)
    return refused


class SinkConsumer:
    """Consumes the topics of some event kinds into one sink, as consumer group :func:`group_id`."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        kinds: list[str],
        sink_factory: Callable[[], Sink],
        *,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.name = name
        self.kinds = kinds
        self._sink_factory = sink_factory
        self._backoff = backoff
        self._clock = clock
        self.status = ConsumerStatus(name)
        self._stop = threading.Event()
        self._tables = {settings.topic(kind): TABLES[kind] for kind in kinds}
        self._batch = self._new_batch()
        self._consumer: KafkaConsumer | None = None
        self._sink: Sink | None = None
        self._dlq = DeadLetterQueue(settings.kafka_bootstrap, settings.dead_letter_topic)
        self._inflight: _InFlight | None = None
        self._writer: ThreadPoolExecutor | None = None  # made by run(), which owns its life
        self._positions: dict[TopicPartition, int] = {}
        self._lag_updated = 0.0

    def stop(self) -> None:
        """Ask the loop to flush, commit and return (called from a signal handler or another thread)."""
        self._stop.set()

    def _new_batch(self) -> Batch:
        return Batch(self._clock())

    def run(self) -> None:
        # A PostgreSQL batch becomes hundreds of thousands of fresh tuples at once; the default
        # collector thresholds would walk them again and again while they are built (docs/benchmarks.md).
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        self._batch = self._new_batch()
        self._positions.clear()
        consumer = self._consumer = self._connect()
        self._sink = self._sink_factory()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lookout-{self.name}-writer")
        try:
            while not self._stop.is_set():
                # A record carries up to a request's worth of events, so polls are kept small: a batch
                # then closes near batch_max_rows instead of overshooting it by a whole poll.
                polled = consumer.poll(timeout_ms=100, max_records=POLL_MAX_RECORDS)
                for tp, messages in polled.items():
                    for message in messages:
                        count = events_in(message.value, message.headers)
                        self._batch.add(tp.topic, tp.partition, message.offset, message.value, count)
                    self._positions[tp] = messages[-1].offset + 1
                if self._inflight is not None and self._inflight.future.done():
                    self._reap()
                if self._batch.is_ready(self._clock(), self.settings.batch_max_rows, self.settings.batch_max_wait_s):
                    if self._inflight is not None:
                        self._reap()  # batches are committed in order: at most one is written at a time
                    self._submit()
                self._update_lag(consumer)
            # Graceful stop (SIGTERM): what was polled is written and committed, not re-read.
            if self._inflight is not None:
                self._reap(final=True)
            self._flush()
        except _Abandon:
            # Stopped while the sink was down (in the loop's flush or the final one): the batch
            # stays uncommitted and is re-read after restart. A clean stop, not a crash.
            log.warning("stopped while the sink was down; the batch will be re-read", extra={"sink": self.name})
        finally:
            if self._inflight is not None:
                self._inflight.future.cancel()
                wait([self._inflight.future])  # the sink's client must be idle before it is closed
                self._inflight = None
            self._writer.shutdown(wait=True)
            consumer.close(autocommit=False)
            self._sink.close()
            self._dlq.close()

    def _connect(self) -> KafkaConsumer:
        topics = list(self._tables)
        attempt = 0
        while True:
            try:
                consumer = KafkaConsumer(
                    bootstrap_servers=self.settings.kafka_bootstrap.split(","),
                    group_id=group_id(self.settings, self.name),
                    client_id=f"lookout-{self.name}",
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_partition_fetch_bytes=8 * 1024 * 1024,
                    fetch_max_bytes=64 * 1024 * 1024,
                    session_timeout_ms=10_000,
                    heartbeat_interval_ms=2_000,
                    max_poll_interval_ms=300_000,
                )
                consumer.subscribe(topics, listener=_Revocation(self))
                return consumer
            except KafkaError as exc:
                self._note_retry(f"cannot connect to Kafka: {exc}")
                if self._sleep(self._backoff.delay(attempt)):
                    raise
                attempt += 1

    def _submit(self) -> None:
        """Start writing the batch on the writer thread while the loop polls the next one.

        The writer makes one attempt per topic and touches only the sink; everything that talks
        to Kafka (commits, pauses, retries that keep the group membership) stays on this thread,
        because KafkaConsumer is not thread-safe.
        """
        assert self._writer is not None
        batch, self._batch = self._batch, self._new_batch()
        self._inflight = _InFlight(batch, self._writer.submit(self._first_attempt, batch))

    def _first_attempt(self, batch: Batch) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for topic, partitions in batch.by_topic().items():
            try:
                outcomes[topic] = self._attempt_topic(batch, topic, partitions)
            except Exception as exc:  # noqa: BLE001 - retried (or isolated) on the consumer thread
                outcomes[topic] = exc
        return outcomes

    def _reap(self, final: bool = False) -> None:
        """Finish the in-flight batch: tables whose first attempt failed are retried here, then commit."""
        inflight = self._inflight
        assert inflight is not None
        outcomes = inflight.future.result()
        self._inflight = None
        self._complete(inflight.batch, outcomes, final)

    def _flush(self) -> None:
        """Write the current batch on this thread (the graceful stop)."""
        batch, self._batch = self._batch, self._new_batch()
        if batch:
            self._complete(batch, {}, final=True)

    def _complete(self, batch: Batch, outcomes: dict[str, Outcome], final: bool) -> None:
        assert self._consumer is not None and self._sink is not None
        # A rebalance during the retries below (they poll to stay in the group) rewinds only the batch
        # being filled; this one is finished, and its commit skips partitions that moved meanwhile.
        written, dead = 0, []
        for topic, partitions in batch.by_topic().items():
            outcome = outcomes.get(topic)
            if not isinstance(outcome, tuple):
                outcome = self._write_topic(batch, topic, partitions)
            written += outcome[0]
            dead.extend(outcome[1])
        self._retry(lambda: self._dlq.send(dead), (DeadLetterUnavailable,))
        self._commit(batch)
        self._count(written, dead)
        # Only after a flush that went through: an abandoned one leaves the sink down and us stopping.
        if self.status.paused and not final:
            self._consumer.resume(*self._consumer.paused())
            self.status.paused = False
            log.info("sink is back, consuming again", extra={"sink": self.name})

    def _count(self, written: int, dead: list[DeadLetter]) -> None:
        self.status.rows_written += written
        self.status.dead_lettered += len(dead)
        self.status.batches += 1

    def _attempt_topic(
        self, batch: Batch, topic: str, partitions: dict[int, list[Record]]
    ) -> tuple[int, list[DeadLetter]]:
        """One attempt at a topic's records (one table, one insert); raises SinkUnavailable or SinkRejected.

        The insert carries a token naming its offsets, so a re-delivery cut the same way is dropped at
        insert time (one cut differently is collapsed by the tables' keys). A sink that takes whole
        records (ClickHouse) gets them unparsed; otherwise the records are decoded into the sink's rows
        here, and their poison events become dead letters.
        """
        assert self._sink is not None
        sink = self._sink
        table = self._tables[topic]
        token = batch.dedup_token(topic)
        records = [record for records in partitions.values() for record in records]
        whole = [sink.record_payload(record.value) for record in records]
        if all(payload is not None for payload in whole):
            sink.write(table, whole, token)
            return sum(record.events for record in records), []
        decoded = decode_records(topic, partitions, lambda event: sink.event_payload(table, event))
        sink.write(table, decoded.payloads, f"{token}/0-{len(decoded.payloads)}")
        return len(decoded.payloads), decoded.dead_letters

    def _write_topic(
        self, batch: Batch, topic: str, partitions: dict[int, list[Record]]
    ) -> tuple[int, list[DeadLetter]]:
        """Write a topic's records into their table, retrying while the sink is unavailable and
        isolating the events it refuses; (events written, dead letters)."""
        try:
            return self._retry(lambda: self._attempt_topic(batch, topic, partitions), (SinkUnavailable,))
        except SinkRejected as exc:
            log.info(
                "sink refused a batch, isolating the refused events",
                extra={"sink": self.name, "topic": topic, "error": str(exc)},
            )
        assert self._sink is not None
        sink, table = self._sink, self._tables[topic]
        decoded = decode_records(topic, partitions, lambda event: sink.event_payload(table, event))
        refused = self._write_isolating(table, decoded.events, decoded.payloads, batch.dedup_token(topic))
        return len(decoded.payloads) - len(refused), decoded.dead_letters + refused

    def _write_isolating(
        self, table: Table, events: list[tuple[Source, Any]], payloads: list[Any], token: str
    ) -> list[DeadLetter]:
        """Write payloads (events[i] made payloads[i]); the ones the sink refuses become dead letters."""
        assert self._sink is not None
        sink = self._sink

        def write(lo: int, hi: int) -> None:
            # A token per slice: a re-delivery cut the same way splits the same way, and is dropped again.
            part = payloads[lo:hi]
            self._retry(lambda: sink.write(table, part, f"{token}/{lo}-{hi}"), (SinkUnavailable,))

        return [
            DeadLetter(events[index][0], f"rejected by {table.name}: {reason}"[:2000], orjson.dumps(events[index][1]))
            for index, reason in isolate(write, len(payloads))
        ]

    def _retry(self, action: Callable[[], T], transient: tuple[type[Exception], ...]) -> T:
        attempt = 0
        while True:
            try:
                return action()
            except transient as exc:
                if self._stop.is_set() and attempt > 0:
                    self.status.paused = True
                    raise _Abandon() from exc
                self._pause(str(exc))
                if self._sleep(self._backoff.delay(attempt)):
                    self.status.paused = True
                    raise _Abandon() from exc
                attempt = min(attempt + 1, 20)

    def _pause(self, error: str) -> None:
        assert self._consumer is not None
        if not self.status.paused:
            log.warning("sink unavailable, pausing consumption", extra={"sink": self.name, "error": error})
            self._consumer.pause(*self._consumer.assignment())
        self.status.paused = True
        self._note_retry(error)

    def _note_retry(self, error: str) -> None:
        self.status.last_error = error
        self.status.retries += 1

    def _sleep(self, seconds: float) -> bool:
        """Sleep while keeping the group membership alive; True when asked to stop."""
        deadline = self._clock() + seconds
        while self._clock() < deadline:
            if self._stop.is_set():
                return True
            if self._consumer is not None:
                # Our partitions are paused, so this poll only keeps us in the group. A rebalance
                # inside it can hand us new partitions, unpaused: whatever it returns is un-read
                # (seek back) rather than dropped, and those partitions are paused too.
                stray = self._consumer.poll(timeout_ms=0)
                for tp, messages in stray.items():
                    self._consumer.seek(tp, messages[0].offset)
                unpaused = self._consumer.assignment() - self._consumer.paused()
                if unpaused:
                    self._consumer.pause(*unpaused)
            time.sleep(min(0.1, max(0.0, deadline - self._clock())))
        return self._stop.is_set()

    def _rewind(self, batch: Batch) -> None:
        """Give up a batch before writing it without skipping it: seek back to its first records.

        Partitions that moved to another member are re-read there from the committed offsets.
        """
        assert self._consumer is not None
        assigned = self._consumer.assignment()
        for (topic, partition), (first, _last) in batch.offsets.items():
            tp = TopicPartition(topic, partition)
            if tp in assigned:
                self._consumer.seek(tp, first)

    def _commit(self, batch: Batch) -> None:
        assert self._consumer is not None
        # Only partitions still ours: the group coordinator would accept a commit for a partition that
        # moved to another member during the write, and move that member's committed offset under it.
        assigned = self._consumer.assignment()
        offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in batch.commit_offsets().items()
            if TopicPartition(topic, partition) in assigned
        }
        try:
            self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The partitions moved to another member during the write: it re-reads these records
            # and the idempotent sinks drop the repeats.
            log.warning("offset commit failed after a rebalance", extra={"sink": self.name, "error": str(exc)})

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

    def revoked(self) -> None:
        """A rebalance begins: finish the in-flight batch if it went through, give back the rest.

        Records not written are sought back to their batch's first offsets. kafka-python keeps the
        position of a partition that stays with this member across the rebalance, so without the seek
        those records would be skipped; a partition that moves away is read by its new owner from the
        committed offset. Nothing is retried here: retries would poll inside the rebalance callback
        while the sink is down.
        """
        unwritten = [self._batch]  # the newest first: seeks to older offsets must come last and win
        self._batch = self._new_batch()
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            outcomes = inflight.future.result()
            if not self._settle(inflight.batch, outcomes):
                unwritten.append(inflight.batch)
        for batch in unwritten:
            self._rewind(batch)

    def _settle(self, batch: Batch, outcomes: dict[str, Outcome]) -> bool:
        """Commit a batch whose first attempt wrote every partition (with one try at its dead letters)."""
        if any(not isinstance(outcome, tuple) for outcome in outcomes.values()):
            return False
        dead = [letter for outcome in outcomes.values() if isinstance(outcome, tuple) for letter in outcome[1]]
        try:
            self._dlq.send(dead)
        except DeadLetterUnavailable:
            return False
        self._commit(batch)
        self._count(sum(outcome[0] for outcome in outcomes.values() if isinstance(outcome, tuple)), dead)
        return True


Outcome = tuple[int, list[DeadLetter]] | Exception  # (events written, dead letters), or why the attempt failed


@dataclass
class _InFlight:
    batch: Batch
    future: Future[dict[str, Outcome]]


class _Abandon(Exception):
    """Stop was requested while a write kept failing: leave the batch uncommitted."""


class _Revocation(ConsumerRebalanceListener):
    def __init__(self, owner: SinkConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:
            self._owner.revoked()

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
