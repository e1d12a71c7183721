"""Accumulating decoded Kafka records into per-table rows. Pure: no I/O, clock passed in.

A batch remembers, for every row, where it came from (topic, partition,
offset, index in the record), so a row the database refuses can be traced
back to its original event and dead-lettered, and it remembers the offsets to
commit once every row is durably written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, overload

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


class RowSources(Sequence[tuple[Source, Any]]):
    """(where from, the decoded event) of every row of a table, in row order.

    Kept as plain tuples and turned into :class:`Source` only when asked for (to dead-letter a row
    the database refused): a frozen dataclass per event would cost as much as building its row.
    """

    __slots__ = ("_refs",)

    def __init__(self) -> None:
        self._refs: list[tuple[str, int, int, int | None, Any]] = []  # topic, partition, offset, index, event

    def __len__(self) -> int:
        return len(self._refs)

    @overload
    def __getitem__(self, index: int) -> tuple[Source, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[Source, Any]]: ...

    def __getitem__(self, index: int | slice) -> tuple[Source, Any] | list[tuple[Source, Any]]:
        if isinstance(index, slice):
            return [_source(ref) for ref in self._refs[index]]
        return _source(self._refs[index])

    def __iter__(self) -> Iterator[tuple[Source, Any]]:
        return map(_source, self._refs)

    def append(self, item: tuple[Source, Any]) -> None:
        source, event = item
        self._refs.append((source.topic, source.partition, source.offset, source.index, event))

    def add(self, topic: str, partition: int, offset: int, index: int, event: Any) -> None:
        self._refs.append((topic, partition, offset, index, event))

    def add_record(self, topic: str, partition: int, offset: int, events: Sequence[Any]) -> None:
        """Every event of one record, at indexes 0..n-1."""
        self._refs.extend(zip(repeat(topic), repeat(partition), repeat(offset), range(len(events)), events))


def _source(ref: tuple[str, int, int, int | None, Any]) -> tuple[Source, Any]:
    topic, partition, offset, index, event = ref
    return Source(topic, partition, offset, index), event


@dataclass
class TableRows:
    topic: str  # each table is fed by exactly one topic, the one of its event kind
    builder: RowBuilder
    rows: list[Row] = field(default_factory=list)
    sources: RowSources = field(default_factory=RowSources)  # (where from, the decoded event) per row


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
        build = builder.build
        try:
            rows = list(map(build, events))  # the common case: every event of the record is good
        except PoisonEvent:
            pass
        else:
            table.rows.extend(rows)
            table.sources.add_record(topic, partition, offset, events)
            self.events += len(rows)
            return
        for index, event in enumerate(events):  # some are poison: event by event, so the rest still go in
            try:
                row = build(event)
            except PoisonEvent as exc:
                source = Source(topic, partition, offset, index)
                self.dead_letters.append(DeadLetter(source, str(exc), orjson.dumps(event)))
                continue
            table.rows.append(row)
            table.sources.add(topic, partition, offset, index, event)
            self.events += 1

    def is_ready(self, now: float, max_rows: int, max_wait_s: float) -> bool:
        if not self.offsets:
            return False
        return self.events >= max_rows or now - self.created_at >= max_wait_s

    def dedup_token(self, topic: str, partition: int) -> str:
        """A token naming exactly the offsets of one partition whose rows go into one insert."""
        first, last = self.offsets[(topic, partition)]
        return f"{topic}:{partition}:{first}-{last}"

    def commit_offsets(self) -> dict[tuple[str, int], int]:
        """The offsets to commit: one past the last record of each partition."""
        return {tp: last + 1 for tp, (_first, last) in self.offsets.items()}
