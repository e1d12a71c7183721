"""Producing accepted events to Kafka, and knowing for sure when they are durable.

The collector answers 202 only after the broker acknowledged every record of
the request (acks=all, idempotent producer), and gives up within a bounded
time so a dead broker turns into a prompt 503 rather than a hung client.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

from lookout.settings import Settings

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The broker did not acknowledge in time; nothing of the request may be reported as accepted."""


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class EventProducer:
    """One lazily-created KafkaProducer per process (gunicorn forks first, then each worker connects)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._broken_until = 0.0

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                # After a failed connect, answer 503 at once for a second instead of
                # making every request wait out the bootstrap timeout again.
                if time.monotonic() < self._broken_until:
                    raise KafkaUnavailable("Kafka is unreachable (retrying shortly)")
                timeout_ms = int(self._settings.produce_timeout_s * 1000)
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self._settings.kafka_bootstrap.split(","),
                        client_id="lookout-collector",
                        acks="all",
                        enable_idempotence=True,
                        compression_type=None
                        if self._settings.kafka_compression == "none"
                        else self._settings.kafka_compression,
                        linger_ms=2,
                        batch_size=1024 * 1024,
                        max_request_size=4 * 1024 * 1024,
                        max_block_ms=timeout_ms,
                        request_timeout_ms=timeout_ms,
                        delivery_timeout_ms=timeout_ms + 1000,
                        bootstrap_timeout_ms=timeout_ms,
                        reconnect_backoff_max_ms=1000,
                    )
                except KafkaError as exc:
                    self._broken_until = time.monotonic() + 1.0
                    raise KafkaUnavailable(f"cannot connect to Kafka: {exc}") from exc
            return self._producer

    def send_all(self, records: Sequence[OutgoingRecord]) -> None:
        """Send and wait until every record is acknowledged, or raise KafkaUnavailable."""
        if not records:
            return
        producer = self._get()
        deadline = time.monotonic() + self._settings.produce_timeout_s
        try:
            futures = [producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records]
            for future in futures:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
        except KafkaError as exc:
            self._discard(producer)
            raise KafkaUnavailable(f"Kafka did not acknowledge the events: {exc}") from exc
        except RuntimeError as exc:
            # A send racing another request's _discard meets the producer's network layer closed under it
            # ("NetworkSelector closed!") before the producer marks itself closed: the same outage, a 503.
            # Found by bench/abuse.py (64 large bodies at once while Kafka timed out): it was a 500.
            if self._producer is producer:
                raise
            raise KafkaUnavailable(f"Kafka did not acknowledge the events: {exc}") from exc

    def _discard(self, producer: KafkaProducer) -> None:
        """Replace a producer whose sends failed.

        kafka-python's idempotent producer can stay wedged after batches expire
        during a broker outage (every later send times out), so a failed
        producer is never reused: the next request builds a fresh one.
        """
        with self._lock:
            if self._producer is producer:
                self._producer = None
                self._broken_until = time.monotonic() + 0.5
        # Other threads' sends on it fail too, and those requests answer 503 as they must.
        threading.Thread(target=producer.close, kwargs={"timeout": 0}, daemon=True).start()

    def healthy(self) -> bool:
        """The producer exists and at least one bootstrap broker accepts a connection."""
        try:
            self._get()
        except KafkaUnavailable:
            return False
        for server in self._settings.kafka_bootstrap.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
                return True
            except OSError:
                continue
        return False

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self._settings.produce_timeout_s)
                self._producer = None
