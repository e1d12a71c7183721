"""Events as the client handles them: contract defaults filled in, encoded once (pure, no I/O)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

_COMPACT = (",", ":")


def prepare(event: Mapping[str, Any], service: str, instance: str | None) -> str:
    """Fill in the envelope the contract asks for and encode the event to JSON.

    The event gets its ``event_id`` here, once: every retry and every replay
    from the spool then carries the same id, which is what lets the
    warehouse deduplicate an at-least-once delivery. Encoding in the caller's
    thread also freezes the event, so the app mutating a dict it passed in
    cannot change what a later retry sends.
    """
    prepared = dict(event)
    if prepared.get("service") is None:
        prepared["service"] = service
    if instance is not None and prepared.get("instance") is None:
        prepared["instance"] = instance
    timestamp = prepared.get("timestamp")
    if timestamp is None:
        prepared["timestamp"] = time.time_ns() // 1_000_000
    elif isinstance(timestamp, datetime):
        # isoformat() of a naive datetime is not RFC 3339; epoch ms is unambiguous for both kinds.
        prepared["timestamp"] = int(timestamp.timestamp() * 1000)
    if prepared.get("event_id") is None:
        prepared["event_id"] = str(uuid.uuid4())
    # allow_nan=False: NaN is not JSON, and one NaN would make the collector refuse the whole batch (400).
    return json.dumps(prepared, default=_jsonable, separators=_COMPACT, allow_nan=False)


def is_urgent(event: Mapping[str, Any]) -> bool:
    """An error log is what someone is waiting for; it does not wait for the batch to fill."""
    return event.get("kind") == "log" and event.get("level") == "error"


def encode_batch(events: Sequence[str]) -> str:
    """The JSON array the collector takes, built from already encoded events."""
    return "[" + ",".join(events) + "]"


def decode_batch(text: str | bytes) -> list[str]:
    """Split an encoded batch back into encoded events (so a replayed batch can still be halved on 413)."""
    events = json.loads(text)
    if not isinstance(events, list):
        raise ValueError("a batch must be a JSON array")
    return [json.dumps(event, separators=_COMPACT) for event in events]


def _jsonable(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return list(value)
    # Anything else (UUIDs, Decimals, enums, exceptions) ships as its text rather than costing the event.
    return str(value)
