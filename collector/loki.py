"""Loki's push API (``POST /loki/api/v1/push``) as pure functions: decoding and mapping, no I/O.

Bodies, as Loki takes them:

* ``application/x-protobuf``: a snappy-compressed (block format) ``logproto.PushRequest``; the message
  types are declared below, field for field as in Loki's ``pkg/push/push.proto``, so no generated code
  or ``protoc`` is needed.
* ``application/json``: ``{"streams": [{"stream": {labels}, "values": [["<epoch ns>", "<line>"
  (, {structured metadata})]]}]}``, optionally gzipped, and the pre-0.4 form
  ``{"streams": [{"labels": "{a=\\"b\\"}", "entries": [{"ts": "<RFC 3339>", "line": "..."}]}]}``.

Each entry becomes one event through :mod:`collector.field_mapping`: the line is the message (a line that
is a JSON object is read as one, its fields over the labels, as LogQL's ``| json`` would), the labels
and structured metadata are the document around it (``service``, ``app``, ``logger``, ``level``,
``severity``, ``host``... map to their columns; Loki's ``service_name``, ``job`` and ``detected_level``
too), everything else lands in metadata. A stream or entry that cannot be read is refused alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import cramjam
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from collector.body import BadItem, BodyTooLarge, MalformedBody
from collector.field_mapping import map_document

PROTOBUF_TYPE = "application/x-protobuf"
JSON_TYPE = "application/json"
PUSH_TYPES = frozenset({PROTOBUF_TYPE, JSON_TYPE})
# Labels Loki itself derives the service from, after the names field_mapping already knows.
SERVICE_LABELS = ("service_name", "application", "job", "container", "component")
LEVEL_LABELS = ("detected_level",)

_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t"}


class LabelError(ValueError):
    pass


@dataclass(slots=True)
class Stream:
    labels: dict[str, str]
    entries: list[tuple[object, str, dict[str, str]]]  # (timestamp: epoch ns or RFC 3339, line, structured metadata)


@dataclass(slots=True)
class Push:
    """Raw events for validation, or BadItem in the slot of an entry or stream that could not be read."""

    items: list[object] = field(default_factory=list)


def _push_request_type() -> type:
    """logproto.PushRequest and its parts, declared in code (wire-compatible with Loki's push.proto)."""
    proto = descriptor_pb2.FileDescriptorProto(name="lookout_loki_push.proto", package="logproto", syntax="proto3")
    spec_type = descriptor_pb2.FieldDescriptorProto
    string, repeated = spec_type.TYPE_STRING, spec_type.LABEL_REPEATED
    optional, message = spec_type.LABEL_OPTIONAL, spec_type.TYPE_MESSAGE
    layout = {
        "Timestamp": [("seconds", 1, spec_type.TYPE_INT64, optional, None),
                      ("nanos", 2, spec_type.TYPE_INT32, optional, None)],
        "LabelPairAdapter": [("name", 1, string, optional, None), ("value", 2, string, optional, None)],
        "EntryAdapter": [("timestamp", 1, message, optional, ".logproto.Timestamp"),
                         ("line", 2, string, optional, None),
                         ("structuredMetadata", 3, message, repeated, ".logproto.LabelPairAdapter")],
        "StreamAdapter": [("labels", 1, string, optional, None),
                          ("entries", 2, message, repeated, ".logproto.EntryAdapter"),
                          ("hash", 3, spec_type.TYPE_UINT64, optional, None)],
        "PushRequest": [("streams", 1, message, repeated, ".logproto.StreamAdapter")],
    }
    for name, fields in layout.items():
        described = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            spec = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                spec.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = _push_request_type()


def parse_labels(text: str) -> dict[str, str]:
    """A Prometheus label set, ``{a="b", c="d\\"e"}``, as a dict."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        raise LabelError(f"labels must look like {{name=\"value\"}} (got {text[:80]!r})")
    inner = inner[1:-1]
    labels: dict[str, str] = {}
    position = 0
    while position < len(inner) and inner[position:].strip():
        found = _LABEL.match(inner, position)
        if found is None:
            raise LabelError(f"cannot parse labels {text[:80]!r} at character {position + 1}")
        labels[found.group(1)] = _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), found.group(2))
        position = found.end()
    return labels


def decode(body: bytes, content_type: str, max_bytes: int) -> list[Stream | BadItem]:
    """The streams of a push body (its Content-Encoding already removed); MalformedBody for the whole body."""
    if content_type == PROTOBUF_TYPE:
        return _decode_protobuf(body, max_bytes)
    return _decode_json(body)


def _decode_protobuf(body: bytes, max_bytes: int) -> list[Stream | BadItem]:
    try:
        # The block format starts with the uncompressed length: a bomb is refused before it is inflated.
        size = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise MalformedBody(f"invalid snappy data: {exc}") from None
    if size > max_bytes:
        raise BodyTooLarge(f"decompressed body of {size} bytes exceeds {max_bytes}")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
        request = PushRequest.FromString(raw)
    except cramjam.DecompressionError as exc:
        raise MalformedBody(f"invalid snappy data: {exc}") from None
    except DecodeError as exc:
        raise MalformedBody(f"invalid protobuf PushRequest: {exc}") from None
    streams: list[Stream | BadItem] = []
    for stream in request.streams:
        try:
            labels = parse_labels(stream.labels)
        except LabelError as exc:
            streams.append(BadItem(str(exc)))
            continue
        entries = [
            (entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos, entry.line,
             {pair.name: pair.value for pair in entry.structuredMetadata})
            for entry in stream.entries
        ]
        streams.append(Stream(labels, entries))  # type: ignore[arg-type]
    return streams


def _decode_json(body: bytes) -> list[Stream | BadItem]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"invalid JSON: {exc}") from None
    if type(value) is not dict or type(value.get("streams")) is not list:
        raise MalformedBody('the body must be a JSON object with a "streams" array')
    return [_json_stream(stream) for stream in value["streams"]]


def _json_stream(stream: object) -> Stream | BadItem:
    if type(stream) is not dict:
        return BadItem("each stream must be a JSON object")
    try:
        if "stream" in stream or "values" in stream:
            labels = stream.get("stream") or {}
            if type(labels) is not dict or not all(type(v) is str for v in labels.values()):
                return BadItem('"stream" must be an object of string labels')
            return Stream(labels, [_json_value(value) for value in _list(stream.get("values"), "values")])
        labels = parse_labels(str(stream.get("labels", "")))
        return Stream(labels, [_json_entry(entry) for entry in _list(stream.get("entries"), "entries")])
    except LabelError as exc:
        return BadItem(str(exc))


def _list(value: object, name: str) -> list:
    if type(value) is not list:
        raise LabelError(f'"{name}" must be an array')
    return value


def _json_value(value: object) -> tuple[object, object, dict[str, str]]:
    # A malformed entry keeps its slot; validation names what is wrong with it.
    if type(value) is not list or len(value) not in (2, 3):
        return (None, value, {})
    metadata = value[2] if len(value) == 3 and type(value[2]) is dict else {}
    return (value[0], value[1], metadata)


def _json_entry(entry: object) -> tuple[object, object, dict[str, str]]:
    if type(entry) is not dict:
        return (None, entry, {})
    return (entry.get("ts"), entry.get("line"), {})


def events(streams: list[Stream | BadItem], *, default_kind: str, received_ms: int) -> Iterator[object]:
    """One raw event per entry, in order; a stream that could not be read stays one BadItem."""
    for stream in streams:
        if isinstance(stream, BadItem):
            yield stream
            continue
        labels: dict[str, object] = dict(stream.labels)
        fallback = next((labels.pop(name) for name in SERVICE_LABELS if labels.get(name)), None)
        for name in LEVEL_LABELS:
            if name in labels and "level" not in labels:
                labels["level"] = labels.pop(name)
        for timestamp, line, metadata in stream.entries:
            if timestamp is None or type(line) is not str:
                yield BadItem('each entry needs a timestamp and a string line: ["<epoch ns>", "<line>"]')
                continue
            parsed = _json_object(line)
            # The entry's timestamp is Loki's truth; a JSON line's own fields come on top of the labels.
            document = {**labels, **metadata, **parsed, "timestamp": timestamp} if parsed else {
                **labels, **metadata, "timestamp": timestamp, "message": line}
            event = map_document(
                document, default_kind=default_kind, received_ms=received_ms,
                fallback_service=str(fallback) if fallback is not None else None,
            )
            event.setdefault("message", line)  # a JSON line with no message field: the line itself
            yield event


def _json_object(line: str) -> dict[str, object] | None:
    """The fields of a line that is a JSON object (pino-loki and many loggers send one), else None."""
    if not line.startswith("{"):
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def entry_count(streams: list[Stream | BadItem]) -> int:
    return sum(1 if isinstance(stream, BadItem) else len(stream.entries) for stream in streams)
