"""Accumulating decoded Kafka records into per-table rows. Pure: no I/O, clock passed in.

A batch remembers, for every row, where it came from (topic, partition,
offset, index in the record), so a row the database refuses can be traced
back to its original event and dead-lettered, and it remembers the offsets to
commit once every row is durably written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from lookout.records import decode_events
from pipeline.rows import PoisonEvent, Row, RowBuilder


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


@dataclass
class TableRows:
    topic: str  # each table is fed by exactly one topic, the one of its event kind
    builder: RowBuilder
    rows: list[Row] = field(default_factory=list)
    sources: list[tuple[Source, Any]] = field(default_factory=list)  # (where from, the decoded event)


class Batch:
    def __init__(self, builders_by_topic: dict[str, RowBuilder], created_at: float) -> None:
        self._builders = builders_by_topic
        self.created_at = created_at
        self.tables: dict[str, TableRows] = {}
        self.dead_letters: list[DeadLetter] = []
        # (topic, partition) -> [first offset, last offset] seen in this batch
        self.offsets: dict[tuple[str, int], list[int]] = {}
        self.events = 0

    def add(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        span = self.offsets.setdefault((topic, partition), [offset, offset])
        span[1] = offset
        builder = self._builders[topic]
        table = self.tables.get(builder.table.name)
        if table is None:
            table = self.tables[builder.table.name] = TableRows(topic, builder)
        try:
            events = decode_events(value or b"")
        except ValueError as exc:
            reason = f"undecodable record: {exc}"
            self.dead_letters.append(DeadLetter(Source(topic, partition, offset, None), reason, value or b""))
            return
        for index, event in enumerate(events):
            source = Source(topic, partition, offset, index)
            try:
                row = builder.build(event)
            except PoisonEvent as exc:
                self.dead_letters.append(DeadLetter(source, str(exc), orjson.dumps(event)))
                continue
            table.rows.append(row)
            table.sources.append((source, event))
            self.events += 1

    def is_ready(self, now: float, max_rows: int, max_wait_s: float) -> bool:
        if not self.offsets:
            return False
        return self.events >= max_rows or now - self.created_at >= max_wait_s

    def dedup_token(self, table_name: str) -> str:
        """A token naming exactly the offsets whose rows went into this table's insert."""
        topic = self.tables[table_name].topic
        spans = sorted(
            f"{topic}:{partition}:{first}-{last}"
            for (source_topic, partition), (first, last) in self.offsets.items()
            if source_topic == topic
        )
        return "|".join(spans)

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        """The offsets to commit: one past the last record of each partition."""
        return {tp: last + 1 for tp, (_first, last) in self.offsets.items()}
