"""The dead-letter topic: events that can never be written, with the reason and their origin.

Each dead letter is one Kafka record whose value is the original event bytes
(fixable and replayable as is) and whose headers say why and where from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

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
