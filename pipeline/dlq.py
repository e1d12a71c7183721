"""The dead-letter topic: events that can never be written, with the reason and their origin.

Each dead letter is one Kafka record whose value is the original event bytes
(fixable and replayable as is) and whose headers say why and where from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from lookout.contract import InvalidEvent, validate_event
from lookout.records import encode_events
from lookout.settings import Settings
from pipeline.batch import DeadLetter, Source


class DeadLetterUnavailable(RuntimeError):
    """The dead-letter topic could not take the records; the batch must not be committed."""


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter as read back from the topic (by `lookout dlq list`)."""

    offset: int
    partition: int
    reason: str
    source: Source
    original: bytes
    timestamp_ms: int


def headers_for(letter: DeadLetter) -> list[tuple[str, bytes]]:
    source = letter.source
    headers = [
        ("reason", letter.reason.encode()),
        ("source_topic", source.topic.encode()),
        ("source_partition", str(source.partition).encode()),
        ("source_offset", str(source.offset).encode()),
    ]
    if source.index is not None:
        headers.append(("source_index", str(source.index).encode()))
    return headers


def from_record(partition: int, offset: int, timestamp_ms: int, value: bytes, headers: Sequence) -> StoredDeadLetter:
    h = {key: raw.decode(errors="replace") for key, raw in headers}
    index = h.get("source_index")
    return StoredDeadLetter(
        offset=offset,
        partition=partition,
        reason=h.get("reason", ""),
        source=Source(
            h.get("source_topic", ""),
            int(h.get("source_partition", -1)),
            int(h.get("source_offset", -1)),
            int(index) if index is not None else None,
        ),
        original=value,
        timestamp_ms=timestamp_ms,
    )


class DeadLetterQueue:
    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0) -> None:
        self._bootstrap = bootstrap
        self.topic = topic
        self._timeout_s = timeout_s
        self._producer: KafkaProducer | None = None

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Send and wait for the broker's acknowledgement of every letter."""
        if not letters:
            return
        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap.split(","),
                    client_id="lookout-dead-letters",
                    acks="all",
                    enable_idempotence=True,
                    max_request_size=4 * 1024 * 1024,
                )
            futures = [
                self._producer.send(self.topic, value=letter.original, headers=headers_for(letter))
                for letter in letters
            ]
            for future in futures:
                future.get(timeout=self._timeout_s)
        except KafkaError as exc:
            raise DeadLetterUnavailable(f"cannot write to {self.topic}: {exc}") from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout_s)
            self._producer = None


def read_dead_letters(bootstrap: str, topic: str, limit: int, timeout_s: float = 5.0) -> list[StoredDeadLetter]:
    """The newest ``limit`` dead letters (all partitions), oldest first; reads without a consumer group."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, consumer_timeout_ms=int(timeout_s * 1000)
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assignment:
            return []
        consumer.assign(assignment)
        ends = consumer.end_offsets(assignment)
        beginnings = consumer.beginning_offsets(assignment)
        for tp in assignment:
            consumer.seek(tp, max(beginnings[tp], ends[tp] - limit))
        remaining = {tp: ends[tp] for tp in assignment if consumer.position(tp) < ends[tp]}
        letters: list[StoredDeadLetter] = []
        while remaining:
            polled = consumer.poll(timeout_ms=int(timeout_s * 1000))
            if not polled:
                break
            for tp, records in polled.items():
                for r in records:
                    letters.append(from_record(tp.partition, r.offset, r.timestamp, r.value or b"", r.headers or []))
                if consumer.position(tp) >= ends[tp]:
                    remaining.pop(tp, None)
        letters.sort(key=lambda letter: letter.timestamp_ms)
        return letters[-limit:]
    finally:
        consumer.close()


@dataclass(frozen=True)
class ReplayResult:
    sent: int
    errors: list[str]  # "line N: reason"


def replay(settings: Settings, lines: Iterable[bytes], now_ms: int) -> ReplayResult:
    """Validate fixed events (one JSON event per line, wire or contract form) and send them back.

    Each event keeps its event_id, so replaying one that was in fact written
    already is harmless. Invalid lines are reported and not sent.
    """
    by_topic: dict[tuple[str, str], list[bytes]] = {}
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            if isinstance(raw, dict) and "ts" in raw and "timestamp" not in raw:
                raw = {("timestamp" if k == "ts" else k): v for k, v in raw.items()}  # wire form -> contract form
            event = validate_event(raw, now_ms)
        except orjson.JSONDecodeError as exc:
            errors.append(f"line {number}: not JSON ({exc})")
            continue
        except InvalidEvent as exc:
            errors.append(f"line {number}: {exc}")
            continue
        by_topic.setdefault((settings.topic(event.kind), event.service), []).append(orjson.dumps(event.to_json_dict()))
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), acks="all", enable_idempotence=True)
    sent = 0
    try:
        futures = []
        for (topic, service), events in by_topic.items():
            for record in encode_events(events):
                futures.append(producer.send(topic, key=service.encode(), value=record.value, headers=record.headers))
            sent += len(events)
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()
    return ReplayResult(sent, errors)
