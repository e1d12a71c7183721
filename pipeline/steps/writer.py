"""Step 2: a batch into its tables, on a writer thread, retried while the sink is down.

The write runs on a thread of its own while the driver polls the next batch (chDB and psycopg
release the GIL while the database works: that overlap is where the throughput comes from). The
thread touches only the sink, never Kafka. One batch is written at a time, so batches are finished,
and committed, in order.

A sink that is unavailable is retried with capped exponential backoff and full jitter, never
skipped; meanwhile this step refuses the next batch and the driver pauses. A batch the database
refuses is written again in halves (:func:`isolate`), so only the refused events are dead-lettered,
with the database's reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import orjson

from pipeline.batch import Batch, DeadLetter, Record, Source, decode_records
from pipeline.sinks import Sink, SinkRejected, SinkUnavailable
from pipeline.steps.base import RETRY, Backoff, ConsumerStatus, MessageRejected, Step, Written, offer
from warehouse.tables import Table

log = logging.getLogger(__name__)

T = TypeVar("T")


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


class Abandoned(Exception):
    """The step was joined or terminated while the sink kept failing: the batch stays uncommitted."""


class WriteBatches:
    def __init__(
        self,
        sink: Sink,
        tables: Mapping[str, Table],
        status: ConsumerStatus,
        next_step: Step[Written],
        *,
        backoff: Backoff = RETRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._tables = tables  # topic -> its table
        self._status = status
        self._next = next_step
        self._backoff = backoff
        self._clock = clock
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lookout-{status.name}-writer")
        self._inflight: Future[Written] | None = None
        self._give_up = threading.Event()  # set when joining runs out of time: stop retrying

    def submit(self, item: Batch) -> None:
        if self._inflight is not None:
            if not self._inflight.done():
                raise MessageRejected(self._inflight)
            self._next.submit(self._inflight.result())  # the next step's refusal is ours too
            self._inflight = None
        self._inflight = self._writer.submit(self._write, item)

    def poll(self) -> None:
        self._next.poll()
        if self._inflight is not None and self._inflight.done():
            try:
                self._next.submit(self._inflight.result())
            except MessageRejected:
                return
            self._inflight = None

    def join(self, timeout_s: float) -> None:
        deadline = self._clock() + timeout_s
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            if not wait([inflight], timeout=timeout_s).done:
                self._give_up.set()  # the current attempt ends; no retry follows
            try:
                written = inflight.result()
            except Abandoned:
                log.warning("stopped while the sink was down; the batch will be read again", extra=self._extra)
            else:
                if not offer(self._next, written, deadline, self._clock):
                    log.warning("gave up a written batch before its dead letters; it will be read again")
        self._release()
        self._next.join(max(0.0, deadline - self._clock()))

    def terminate(self) -> None:
        self._give_up.set()
        if self._inflight is not None:
            wait([self._inflight])  # the sink's client must be idle before it is closed
            self._inflight = None
        self._release()
        self._next.terminate()

    def _release(self) -> None:
        self._writer.shutdown(wait=True)
        self._sink.close()

    @property
    def _extra(self) -> dict[str, Any]:
        return {"sink": self._status.name}

    # --- on the writer thread -------------------------------------------------------------------

    def _write(self, batch: Batch) -> Written:
        events, dead = 0, []
        for topic, partitions in batch.by_topic().items():
            written, letters = self._write_topic(batch, topic, partitions)
            events += written
            dead.extend(letters)
        return Written(batch.commit_offsets(), events, dead)

    def _write_topic(
        self, batch: Batch, topic: str, partitions: dict[int, list[Record]]
    ) -> tuple[int, list[DeadLetter]]:
        """A topic's records into their table; (events written, dead letters)."""
        try:
            return self._retrying(lambda: self._attempt_topic(batch, topic, partitions))
        except SinkRejected as exc:
            log.info(
                "sink refused a batch, isolating the refused events",
                extra={**self._extra, "topic": topic, "error": str(exc)},
            )
        table = self._tables[topic]
        decoded = decode_records(topic, partitions, lambda event: self._sink.event_payload(table, event))
        refused = self._write_isolating(table, decoded.events, decoded.payloads, batch.dedup_token(topic))
        return len(decoded.payloads) - len(refused), decoded.dead_letters + refused

    def _attempt_topic(
        self, batch: Batch, topic: str, partitions: dict[int, list[Record]]
    ) -> tuple[int, list[DeadLetter]]:
        """One attempt at a topic's records (one table, one insert); raises SinkUnavailable or SinkRejected.

        The insert carries a token naming its offsets, so a re-delivery cut the same way is dropped at
        insert time (one cut differently is collapsed by the tables' keys). A sink that takes whole
        records (ClickHouse) gets them unparsed; otherwise the records are decoded into the sink's rows
        here, and their poison events become dead letters.
        """
        sink, table = self._sink, self._tables[topic]
        token = batch.dedup_token(topic)
        records = [record for records in partitions.values() for record in records]
        whole = [sink.record_payload(record.value) for record in records]
        if all(payload is not None for payload in whole):
            sink.write(table, whole, token)
            return sum(record.events for record in records), []
        decoded = decode_records(topic, partitions, lambda event: sink.event_payload(table, event))
        sink.write(table, decoded.payloads, f"{token}/0-{len(decoded.payloads)}")
        return len(decoded.payloads), decoded.dead_letters

    def _write_isolating(
        self, table: Table, events: list[tuple[Source, Any]], payloads: list[Any], token: str
    ) -> list[DeadLetter]:
        """Write payloads (events[i] made payloads[i]); the ones the sink refuses become dead letters."""

        def write(lo: int, hi: int) -> None:
            # A token per slice: a re-delivery cut the same way splits the same way, and is dropped again.
            part = payloads[lo:hi]
            self._retrying(lambda: self._sink.write(table, part, f"{token}/{lo}-{hi}"))

        return [
            DeadLetter(events[index][0], f"rejected by {table.name}: {reason}"[:2000], orjson.dumps(events[index][1]))
            for index, reason in isolate(write, len(payloads))
        ]

    def _retrying(self, action: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                result = action()
            except SinkUnavailable as exc:
                if self._status.failed("sink", str(exc)):
                    log.warning("sink unavailable, pausing consumption", extra={**self._extra, "error": str(exc)})
                if self._give_up.wait(self._backoff.delay(attempt)):
                    raise Abandoned() from exc
                attempt += 1
                continue
            if self._status.recovered("sink"):
                log.info("sink is back, consuming again", extra=self._extra)
            return result
