"""The Kafka record format shared by the collector (producer) and the pipeline (consumer).

kafka-python spends tens of microseconds per record, so one record per event
would cap the platform far below its targets. A record therefore carries a
batch: a JSON array of validated events of one kind from one service (the
record key), in the compact wire form of :meth:`lookout.contract.Event.to_json_dict`.
Each event keeps its own ``event_id``, so deduplication and dead-lettering
stay per event.

Two headers travel with every record: the format, and the number of events in
it, so the pipeline can size its batches without parsing the JSON (ClickHouse
parses it, see pipeline/sinks.py). A record without the count header (an
older or hand-written producer) is counted by decoding it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

FORMAT_HEADER = ("lookout-format", b"events-v1")
EVENTS_HEADER = "lookout-events"

# Brokers accept 1 MiB records by default; stay well below so a record never
# bounces off a broker with stock settings, whatever the compression ratio.
MAX_RECORD_BYTES = 768 * 1024


@dataclass(frozen=True)
class RecordValue:
    value: bytes
    events: int

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [FORMAT_HEADER, (EVENTS_HEADER, str(self.events).encode())]


def encode_events(encoded_events: Sequence[bytes]) -> Iterator[RecordValue]:
    """Pack already-encoded events into as few record values as fit in MAX_RECORD_BYTES."""
    # The usual case, one record for all: the loop below splits only when this total is over the limit.
    if len(encoded_events) == 1 or (
        encoded_events and 2 + sum(map(len, encoded_events)) + len(encoded_events) <= MAX_RECORD_BYTES
    ):
        yield RecordValue(b"[" + b",".join(encoded_events) + b"]", len(encoded_events))
        return
    chunk: list[bytes] = []
    size = 2
    for event in encoded_events:
        if chunk and size + len(event) + 1 > MAX_RECORD_BYTES:
            yield RecordValue(b"[" + b",".join(chunk) + b"]", len(chunk))
            chunk, size = [], 2
        chunk.append(event)
        size += len(event) + 1
    if chunk:
        yield RecordValue(b"[" + b",".join(chunk) + b"]", len(chunk))


def decode_events(value: bytes) -> list[Any]:
    """The events of one record value; raises ``ValueError`` for a value that is not a JSON array."""
    decoded = orjson.loads(value)
    if not isinstance(decoded, list):
        raise ValueError("record value is not a JSON array of events")
    return decoded


def events_in(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> int:
    """How many events a record carries: its count header, else its decoded length (1 if undecodable)."""
    for name, header in headers or ():
        if name == EVENTS_HEADER:
            try:
                count = int(header)
            except ValueError:
                break
            if count >= 0:
                return count
            break
    try:
        return len(decode_events(value or b""))
    except ValueError:
        return 1  # dead-lettered as a whole when its batch is written


def json_rows(value: bytes) -> bytes:
    """The record's events as JSONEachRow rows (the array without its brackets: rows may be comma-separated).

    Raises ``ValueError`` when the value is not bracketed as the collector writes it; such a record is
    decoded event by event instead.
    """
    if len(value) < 2 or value[0] != 0x5B or value[-1] != 0x5D:  # "[" ... "]"
        raise ValueError("record value is not a JSON array")
    return value[1:-1]
