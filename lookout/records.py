"""The Kafka record format shared by the collector (producer) and the pipeline (consumer).

kafka-python spends tens of microseconds per record, so one record per event
would cap the platform far below its targets. A record therefore carries a
batch: a JSON array of validated events of one kind from one service (the
record key), in the compact wire form of :meth:`lookout.contract.Event.to_json_dict`.
Each event keeps its own ``event_id``, so deduplication and dead-lettering
stay per event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson

FORMAT_HEADER = ("lookout-format", b"events-v1")

# Brokers accept 1 MiB records by default; stay well below so a record never
# bounces off a broker with stock settings, whatever the compression ratio.
MAX_RECORD_BYTES = 768 * 1024


def encode_events(encoded_events: Sequence[bytes]) -> Iterator[bytes]:
    """Pack already-encoded events into as few record values as fit in MAX_RECORD_BYTES."""
    # The usual case, one record for all: the loop below splits only when this total is over the limit.
    if len(encoded_events) == 1 or (
        encoded_events and 2 + sum(map(len, encoded_events)) + len(encoded_events) <= MAX_RECORD_BYTES
    ):
        yield b"[" + b",".join(encoded_events) + b"]"
        return
    chunk: list[bytes] = []
    size = 2
    for event in encoded_events:
        if chunk and size + len(event) + 1 > MAX_RECORD_BYTES:
            yield b"[" + b",".join(chunk) + b"]"
            chunk, size = [], 2
        chunk.append(event)
        size += len(event) + 1
    if chunk:
        yield b"[" + b",".join(chunk) + b"]"


def decode_events(value: bytes) -> list[Any]:
    """The events of one record value; raises ``ValueError`` for a value that is not a JSON array."""
    decoded = orjson.loads(value)
    if not isinstance(decoded, list):
        raise ValueError("record value is not a JSON array of events")
    return decoded
