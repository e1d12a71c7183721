"""Turning a parsed request body into Kafka records and per-event errors. Pure: no I/O.

Events are validated one by one so a mixed batch keeps its good events; the
good ones are grouped by (kind, service) and packed into as few Kafka records
as fit (see lookout.records), keyed by service so one service's events keep
their order within a partition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from collector.body import BadItem
from collector.producer import OutgoingRecord
from lookout.contract import Event, InvalidEvent, validate_event
from lookout.records import encode_events


@dataclass
class IngestResult:
    records: list[OutgoingRecord] = field(default_factory=list)
    accepted: int = 0
    accepted_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[dict[str, object]] = field(default_factory=list)
    rejected_by_reason: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Per item, the id of the event accepted from it (None: refused); only when asked (keep_ids), for
    # answers that name what was stored (Elasticsearch's _bulk).
    event_ids: list[str | None] = field(default_factory=list)

    def reject(self, index: int, reason: str, message: str) -> None:
        self.errors.append({"index": index, "error": message})
        self.rejected_by_reason[reason] += 1

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def body(self) -> dict[str, object]:
        return {"accepted": self.accepted, "rejected": self.rejected, "errors": self.errors}


def build_records(
    items: Sequence[object],
    *,
    now_ms: int,
    may_send: Callable[[str], bool],
    topic_for: Callable[[str], str],
    max_event_bytes: int,
    keep_ids: bool = False,
) -> IngestResult:
    result = IngestResult()
    ids: list[str | None] | None = None
    if keep_ids:
        ids = result.event_ids = [None] * len(items)
    groups: dict[tuple[str, str], list[bytes]] = {}
    allowed: dict[str, bool] = {}  # may_send per kind: asked once per request, not once per event
    dumps = orjson.dumps
    for index, item in enumerate(items):
        if isinstance(item, BadItem):
            result.reject(index, "invalid", item.reason)
            continue
        try:
            event: Event = validate_event(item, now_ms)
        except InvalidEvent as exc:
            result.reject(index, "invalid", str(exc))
            continue
        kind = event.kind
        may = allowed.get(kind)
        if may is None:
            may = allowed[kind] = bool(may_send(kind))
        if not may:
            result.reject(index, "forbidden_kind", f"this API key may not send '{kind}' events")
            continue
        encoded = dumps(event.to_json_dict())
        if len(encoded) > max_event_bytes:
            result.reject(
                index, "too_large", f"event is {len(encoded)} bytes, more than the limit of {max_event_bytes}"
            )
            continue
        if ids is not None:
            ids[index] = event.event_id
        group_key = (kind, event.service)
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [encoded]
        else:
            group.append(encoded)
    # Groups are in the order of their first event, so kinds are counted in the same order as event by event.
    for (kind, service), encoded_events in groups.items():
        result.accepted += len(encoded_events)
        result.accepted_by_kind[kind] += len(encoded_events)
        topic, key = topic_for(kind), service.encode()
        for record in encode_events(encoded_events):
            result.records.append(OutgoingRecord(topic, key, record.value, record.headers))
    return result
