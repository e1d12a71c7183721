"""Accumulating Kafka records into a batch. Pure: no I/O, clock passed in.

A batch keeps the records' bytes as they came, per partition: the ClickHouse
sink hands them to ClickHouse unparsed, and only a batch the database refuses
is decoded event by event (pipeline/steps/writer.py). It remembers where every
record came from, so a refused event can be traced back to its offset and
dead-lettered, and the offsets to commit once every event is durably written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lookout.records import decode_events
from pipeline.rows import PoisonEvent


@dataclass(frozen=True)
class Source:
    topic: str
    partition: int
    offset: int
    index: int | None  # position of the event in its record; None when the whole record is bad


@dataclass(frozen=True)
class DeadLetter:
    source: Source
    reason: str
    original: bytes


@dataclass(frozen=True)
class Record:
    offset: int
    value: bytes
    events: int  # from the record's count header (lookout.records.events_in)


class Batch:
    def __init__(self, created_at: float) -> None:
        self.created_at = created_at
        # (topic, partition) -> its records, in offset order
        self.records: dict[tuple[str, int], list[Record]] = {}
        self.events = 0

    def add(self, topic: str, partition: int, offset: int, value: bytes | None, events: int) -> None:
        records = self.records.get((topic, partition))
        if records is None:
            records = self.records[(topic, partition)] = []
        records.append(Record(offset, value or b"", events))
        self.events += events

    def __bool__(self) -> bool:
        return bool(self.records)

    @property
    def offsets(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) -> (first offset, last offset) in this batch."""
        return {tp: (records[0].offset, records[-1].offset) for tp, records in self.records.items()}

    def is_ready(self, now: float, max_rows: int, max_wait_s: float) -> bool:
        if not self.records:
            return False
        return self.events >= max_rows or now - self.created_at >= max_wait_s

    def by_topic(self) -> dict[str, dict[int, list[Record]]]:
        """topic -> partition -> records: a topic's events all go into one table, in one insert."""
        topics: dict[str, dict[int, list[Record]]] = {}
        for (topic, partition), records in self.records.items():
            topics.setdefault(topic, {})[partition] = records
        return topics

    def dedup_token(self, topic: str) -> str:
        """A token naming exactly the offsets of the topic's records in this batch, partition by partition."""
        spans = sorted((p, r[0].offset, r[-1].offset) for (t, p), r in self.records.items() if t == topic)
        return f"{topic}:" + ",".join(f"{p}:{first}-{last}" for p, first, last in spans)

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        """The offsets to commit: one past the last record of each partition."""
        return {tp: records[-1].offset + 1 for tp, records in self.records.items()}


@dataclass
class Decoded:
    """A partition's records event by event: events[i] (where from, the event) became payloads[i]."""

    events: list[tuple[Source, Any]] = field(default_factory=list)
    payloads: list[Any] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # undecodable records, poison events


def decode_records(topic: str, partitions: Mapping[int, Sequence[Record]], payload_of: Callable[[Any], Any]) -> Decoded:
    """Decode records and prepare every event with ``payload_of``, which raises PoisonEvent for poison."""
    decoded = Decoded()
    for partition, record in ((p, r) for p, records in partitions.items() for r in records):
        try:
            events = decode_events(record.value)
        except ValueError as exc:
            reason = f"undecodable record: {exc}"
            decoded.dead_letters.append(DeadLetter(Source(topic, partition, record.offset, None), reason, record.value))
            continue
        for index, event in enumerate(events):
            source = Source(topic, partition, record.offset, index)
            try:
                payload = payload_of(event)
            except PoisonEvent as exc:
                decoded.dead_letters.append(DeadLetter(source, str(exc), orjson.dumps(event)))
                continue
            decoded.events.append((source, event))
            decoded.payloads.append(payload)
    return decoded
