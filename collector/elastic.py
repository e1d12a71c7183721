"""The subset of Elasticsearch's ``_bulk`` API that log shippers use, as pure functions: no I/O.

A bulk body is NDJSON: an action line (``index``, ``create``; ``delete`` and ``update`` are answered per
item, Lookout neither deletes nor updates), then for all but ``delete`` a document line. Like
Elasticsearch, a broken action line fails the whole request (the document lines after it cannot be told
from action lines), while a broken document fails only its own item.

A document becomes an event through :mod:`collector.field_mapping` with the index name as its service
unless it names one; an ``_id`` that is a UUID becomes the event id, so a client's retry of the same
document is stored once (when the document carries its own timestamp: the warehouse deduplicates on
event id and timestamp, and a document without one takes each attempt's arrival time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from collector.body import BadItem, BodyTooLarge, MalformedBody
from collector.field_mapping import map_document
from collector.packing import IngestResult
from lookout.contract import new_event_id
from lookout.contract.fields import FieldError, check_uuid

BULK_TYPES = frozenset(
    {"application/x-ndjson", "application/json", "application/vnd.elasticsearch+x-ndjson",
     "application/vnd.elasticsearch+json"}
)
_ACTIONS = frozenset({"index", "create", "delete", "update"})
# What GET / reports. Shippers compare the major version with their own (Logstash and Filebeat 8 refuse 7);
# 8.x is what current clients of both majors 8 and 9 accept for plain bulk writes.
VERSION = "8.17.0"
ERROR_TYPES: Mapping[int, str] = {
    400: "illegal_argument_exception",
    401: "security_exception",
    403: "security_exception",
    404: "resource_not_found_exception",
    405: "illegal_argument_exception",
    413: "content_too_long_exception",
    415: "media_type_header_exception",
    429: "es_rejected_execution_exception",
    503: "unavailable_shards_exception",
}


@dataclass(slots=True)
class BulkItem:
    action: str
    index: str
    doc_id: str | None
    event: dict[str, object] | BadItem  # the mapped raw event, or why this item was refused before validation


def parse_bulk(
    body: bytes,
    *,
    default_index: str | None,
    default_kind: str,
    received_ms: int,
    max_items: int,
    max_event_bytes: int,
) -> list[BulkItem]:
    """The bulk request's items in order; MalformedBody or BodyTooLarge for the whole request."""
    lines = [line for line in body.split(b"\n") if line.strip()]
    items: list[BulkItem] = []
    # Shippers repeat one action line (`{"index":{"_index":"logs"}}`) for every document: each distinct line
    # is read once per request.
    actions: dict[bytes, tuple[str, str | None, str | None]] = {}
    position = 0
    while position < len(lines):
        line = lines[position]
        known = actions.get(line)
        if known is None:
            known = actions[line] = _action(line, position + 1, default_index)
        action, index, doc_id = known
        position += 1
        if action == "delete":
            item_error = "Lookout keeps events as they arrived; delete actions are not supported"
        elif position >= len(lines):
            raise MalformedBody(f"action/metadata line [{position}] has no document line after it")
        else:
            source, position = lines[position], position + 1
            item_error = "Lookout keeps events as they arrived; update actions are not supported" if (
                action == "update"
            ) else None
        if not index:
            index, item_error = "", item_error or "index is missing: name it in the URL or the action line"
        if item_error is not None:
            items.append(BulkItem(action, index, doc_id, BadItem(item_error)))
        else:
            items.append(BulkItem(action, index, doc_id, _event(source, index, doc_id, default_kind, received_ms,
                                                                max_event_bytes)))
        if len(items) > max_items:
            raise BodyTooLarge(f"more than {max_items} actions in one bulk request; split it")
    if not items:
        raise MalformedBody("request body is required: no actions in the bulk request")
    return items


def _action(line: bytes, number: int, default_index: str | None) -> tuple[str, str | None, str | None]:
    """The action, its index (None or "" when it names none usable) and its document id."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"malformed action/metadata line [{number}]: {exc}") from None
    if type(value) is not dict or len(value) != 1:
        raise MalformedBody(
            f"malformed action/metadata line [{number}], expected one of [create], [delete], [index] or [update]"
        )
    ((action, meta),) = value.items()
    if action not in _ACTIONS or type(meta) is not dict:
        raise MalformedBody(
            f"malformed action/metadata line [{number}], expected field [create], [delete], [index] or [update] "
            f"but found [{str(action)[:50]}]"
        )
    index = meta.get("_index", default_index)
    doc_id = meta.get("_id")
    return action, index if type(index) is str else None, None if doc_id is None else str(doc_id)


def _event(
    line: bytes, index: str, doc_id: str | None, default_kind: str, received_ms: int, max_event_bytes: int
) -> dict[str, object] | BadItem:
    if len(line) > max_event_bytes:
        return BadItem(f"document is {len(line)} bytes; the limit is {max_event_bytes}")
    try:
        source = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return BadItem(f"failed to parse the document: {exc}")
    if type(source) is not dict:
        return BadItem("failed to parse the document: it must be a JSON object")
    event = map_document(source, default_kind=default_kind, received_ms=received_ms, fallback_service=index)
    if doc_id is not None and "event_id" not in event:
        try:
            event["event_id"] = check_uuid(doc_id)
        except FieldError:
            metadata = event["metadata"]
            assert type(metadata) is dict
            metadata["_id"] = doc_id
    return event  # without an id of its own, validation draws one; the answer names it (bulk_response)


def bulk_response(items: Sequence[BulkItem], result: IngestResult, took_ms: int) -> bytes:
    """Elasticsearch's bulk answer, as JSON: one entry per action, in order, each with its own status.

    ``result`` is the intake's for these items, with their event ids kept: an item without an ``_id`` of its
    own is answered with the id its event was stored under. A stored item's entry differs from the next one's
    only in its index, id and position, so it is written as text: building and encoding two dicts per item
    was a tenth of a 1,000-item request's CPU. Whatever came from the client is JSON-encoded by orjson.
    """
    refused = {int(e["index"]): str(e["error"]) for e in result.errors}  # type: ignore[call-overload]
    stored = result.event_ids
    indexes: dict[str, str] = {}  # each index name's JSON text, encoded once
    entries: list[str] = []
    for position, item in enumerate(items):
        index = indexes.get(item.index)
        if index is None:
            index = indexes[item.index] = orjson.dumps(item.index).decode()
        if item.doc_id is not None:
            doc_id = orjson.dumps(item.doc_id).decode()
        elif not isinstance(item.event, dict):
            doc_id = "null"  # an action refused before its document was read
        elif stored[position] is not None:
            doc_id = f'"{stored[position]}"'  # a UUID validation wrote: nothing to escape
        else:
            # Like Elasticsearch, a refused document without an _id is still answered with an id.
            given = item.event.get("event_id")
            doc_id = f'"{new_event_id()}"' if given is None else orjson.dumps(str(given)).decode()
        reason = refused.get(position) if refused else None
        if reason is None:
            entries.append(
                f'{{"{item.action}":{{"_index":{index},"_id":{doc_id},"_version":1,"result":"created",'
                f'"_shards":{{"total":1,"successful":1,"failed":0}},"_seq_no":{position},"_primary_term":1,'
                f'"status":201}}}}'
            )
        else:
            error = orjson.dumps({"type": "document_parsing_exception", "reason": reason}).decode()
            entries.append(f'{{"{item.action}":{{"_index":{index},"_id":{doc_id},"status":400,"error":{error}}}}}')
    return (f'{{"took":{took_ms},"errors":{"true" if refused else "false"},"items":[' + ",".join(entries)
            + "]}").encode()


def error_body(status: int, reason: str) -> dict[str, object]:
    """Elasticsearch's shape for a refused request."""
    kind = ERROR_TYPES.get(status, "exception")
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def root_document(cluster_uuid: str) -> dict[str, object]:
    """``GET /``: what clients read to learn they are talking to Elasticsearch, and which version."""
    return {
        "name": "lookout",
        "cluster_name": "lookout",
        "cluster_uuid": cluster_uuid,
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }
