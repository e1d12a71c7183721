"""Assembles the sink consumers and runs them as threads.

One consumer group per sink, so a slow PostgreSQL never holds up logs:
``lookout-clickhouse`` takes log, api_metric, system_metric and
blockchain_event; ``lookout-postgres`` takes admin_audit and security_event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from kafka.errors import KafkaError

from lookout.settings import Settings
from pipeline.consumer import StreamDriver
from pipeline.dlq import DeadLetterQueue
from pipeline.sinks import ClickHouseSink, PostgresSink, Sink
from pipeline.steps.base import Commit, ConsumerStatus, Polled, Step
from pipeline.steps.batcher import BatchRecords
from pipeline.steps.commit import CommitOffsets
from pipeline.steps.dead_letters import SendDeadLetters
from pipeline.steps.writer import WriteBatches
from warehouse.tables import TABLES, Database, kinds_in

log = logging.getLogger(__name__)

SINKS = ("clickhouse", "postgres")


def sink_consumer(settings: Settings, sink: str) -> StreamDriver:
    """One sink's consumer: the driver, and the chain it builds for every assignment.

    The chain reads top to bottom in the order records flow: batch -> write -> dead-letter ->
    commit. Each chain opens its own sink connection and dead-letter producer and releases them
    when it is joined or terminated, so a fresh assignment starts clean.
    """
    open_sink: Callable[[], Sink]
    if sink == "clickhouse":
        kinds, open_sink = kinds_in(Database.CLICKHOUSE), lambda: ClickHouseSink.from_settings(settings)
    elif sink == "postgres":
        kinds, open_sink = kinds_in(Database.POSTGRES), lambda: PostgresSink(settings.postgres_dsn)
    else:
        raise ValueError(f"unknown sink {sink!r}: choose from {', '.join(SINKS)}")
    tables = {settings.topic(kind): TABLES[kind] for kind in kinds}
    status = ConsumerStatus(sink)

    def chain(commit: Commit) -> Step[Polled]:
        return BatchRecords(
            settings.batch_max_rows,
            settings.batch_max_wait_s,
            WriteBatches(
                open_sink(),
                tables,
                status,
                SendDeadLetters(
                    DeadLetterQueue(settings.kafka_bootstrap, settings.dead_letter_topic),
                    status,
                    CommitOffsets(commit, status),
                ),
            ),
        )

    return StreamDriver(settings, sink, list(tables), chain, status)


def build_consumers(settings: Settings, sinks: Iterable[str] = SINKS) -> list[StreamDriver]:
    return [sink_consumer(settings, sink) for sink in sinks]


class PipelineThreads:
    """The consumers of one process, each on its own thread."""

    def __init__(self, consumers: list[StreamDriver]) -> None:
        self.consumers = consumers
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        for consumer in self.consumers:
            thread = threading.Thread(target=self._run, args=(consumer,), name=f"pipeline-{consumer.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, consumer: StreamDriver) -> None:
        # A crash restarts the consumer from its last committed offsets: nothing is lost,
        # and the idempotent sinks absorb what is read twice.
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                consumer.run()
                return
            except KafkaError as exc:
                # The broker is away: expected in an outage, so a warning without a traceback.
                log.warning("lost Kafka; reconnecting", extra={"sink": consumer.name, "error": str(exc)})
            except Exception:
                log.exception("pipeline consumer crashed; restarting", extra={"sink": consumer.name})
            failures = 1 if time.monotonic() - started > 60 else failures + 1
            self._stopping.wait(min(30.0, 1.0 * 2 ** min(failures, 5)))

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        for consumer in self.consumers:
            consumer.stop()
        for thread in self._threads:
            thread.join(timeout_s)

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)
