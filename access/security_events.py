"""Security events about the platform itself (failed logins, lockouts, throttling), sent like any app
server's: validated against the contract and produced to the security_event topic, so the pipeline writes
them to PostgreSQL where every security event is investigated.

Sending does not wait for Kafka: a login answer must not hang on a broker, and a failed send is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from lookout.contract import InvalidEvent, validate_event
from lookout.records import encode_events
from lookout.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "lookout"
SEVERITY = {"failed_login": "low", "account_locked": "medium", "login_throttled": "medium"}


def login_event(
    event_type: str,
    *,
    ip: str | None,
    user_agent: str,
    endpoint: str,
    account_id: int | None,
    email: str,
    action_taken: str = "",
    indicators: Mapping[str, Any] | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """A security_event as an app server would send it (pure)."""
    event: dict[str, Any] = {
        "kind": "security_event",
        "timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
        "service": SERVICE,
        "event_type": event_type,
        "severity": SEVERITY[event_type],
        "user_id": str(account_id) if account_id is not None else "",
        "user_agent": user_agent[:1024],
        "endpoint": endpoint[:255],
        "automatic_action_taken": action_taken,
        "threat_indicators": dict(indicators or {}),
        "metadata": {"email": email[:254]},
    }
    if ip:
        event["ip_address"] = ip
    return event


class SecurityEvents(Protocol):
    def emit(self, event: Mapping[str, Any]) -> None: ...


class KafkaSecurityEvents:
    """Produces to ``<prefix>security_event``; one lazily-created producer per process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self._settings.produce_timeout_s * 1000)
                self._producer = KafkaProducer(
                    bootstrap_servers=self._settings.kafka_bootstrap.split(","),
                    client_id="lookout-dashboards",
                    acks="all",
                    max_block_ms=timeout_ms,
                    request_timeout_ms=timeout_ms,
                    bootstrap_timeout_ms=timeout_ms,
                )
            return self._producer

    def emit(self, event: Mapping[str, Any]) -> None:
        try:
            validated = validate_event(dict(event), int(time.time() * 1000))
        except InvalidEvent as exc:
            log.error("security event refused by the contract", extra={"error": exc.reason})
            return
        (record,) = encode_events([orjson.dumps(validated.to_json_dict())])
        try:
            future = self._get().send(
                self._settings.topic("security_event"),
                key=validated.service.encode(),
                value=record.value,
                headers=record.headers,
            )
        except KafkaError as exc:
            log.warning("cannot send security event", extra={"error": str(exc), "event_type": event["event_type"]})
            return
        future.add_errback(lambda exc: log.warning("security event not delivered", extra={"error": str(exc)}))

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self._settings.produce_timeout_s)
                self._producer = None
