"""Fluent Bit's default ``http`` output body, ``Format msgpack``, as records for field mapping. Pure: no I/O.

Fluent Bit's documentation (development/msgpack-format.md) describes the body: MessagePack values back to
back, each a 2-element array of a timestamp and the record, a map with string keys. The timestamp is an
unsigned integer, a float64, or the ``fixext 8`` of type 0 (EventTime: seconds then nanoseconds, each a
big-endian uint32). Fluent Bit 2.1 and later put ``[timestamp, {metadata}]`` in the timestamp's place.

The timestamp becomes the record's ``date`` (float seconds), the key its JSON formats add by default
(``json_date_key``), unless the record has one; the metadata map, when not empty, is kept under
``fluent_metadata``. A value that is not a record is a BadItem in its slot; a body cut short keeps the
records before the cut and ends with one BadItem.
"""

from __future__ import annotations

import struct

import msgpack

from collector.body import BadItem, BodyLimits, BodyTooLarge, MalformedBody

CONTENT_TYPE = "application/msgpack"
EVENT_TIME = 0  # the MessagePack extension type of Fluent Bit's EventTime
_EVENT_TIME = struct.Struct(">II")


def _ext(code: int, data: bytes) -> object:
    if code == EVENT_TIME and len(data) == _EVENT_TIME.size:
        seconds, nanos = _EVENT_TIME.unpack(data)
        return seconds + nanos / 1e9
    return msgpack.ExtType(code, data)


def parse_records(body: bytes, limits: BodyLimits) -> list[object]:
    """The records of a msgpack body, in order (dicts ready for map_document, or BadItem)."""
    if not body:
        raise MalformedBody("empty body: send at least one Fluent Bit record")
    unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext, strict_map_key=False, max_buffer_size=len(body),
                                unicode_errors="replace")
    unpacker.feed(body)
    items: list[object] = []
    start = 0
    while True:
        try:
            value = next(unpacker)
        except StopIteration:
            if start < len(body):  # bytes left that do not make a whole value
                items.append(BadItem(f"the body ends inside a MessagePack value at byte {start}"))
            break
        except (ValueError, msgpack.UnpackException) as exc:
            if not items:
                raise MalformedBody(f"invalid MessagePack: {exc}") from None
            items.append(BadItem(f"invalid MessagePack at byte {start}: {exc}"))
            break
        size, start = unpacker.tell() - start, unpacker.tell()
        items.append(BadItem(f"record is {size} bytes; the limit is {limits.max_event_bytes}")
                     if size > limits.max_event_bytes else _record(value))
        if len(items) > limits.max_events:
            raise BodyTooLarge(f"more than {limits.max_events} records in one request")
    return items


def _record(value: object) -> object:
    if type(value) is not list or len(value) != 2 or type(value[1]) is not dict:
        return BadItem("each Fluent Bit event must be [timestamp, {record}]")
    stamp, record = value
    metadata: object = None
    if type(stamp) is list and len(stamp) == 2:  # Fluent Bit 2.1+: [[timestamp, {metadata}], {record}]
        stamp, metadata = stamp
    if type(stamp) not in (int, float):
        return BadItem("the event timestamp must be an integer, a float or an EventTime")
    if any(type(key) is not str for key in record):
        return BadItem("record keys must be strings")
    try:
        document = _plain(record)
    except TypeError as exc:
        return BadItem(str(exc))
    document.setdefault("date", stamp)
    if metadata:
        document.setdefault("fluent_metadata", _plain(metadata))
    return document


def _plain(value: object) -> object:
    """JSON-ready: binary strings decoded as UTF-8 (replacing what is not), map keys as strings."""
    if type(value) is dict:
        return {str(key): _plain(item) for key, item in value.items()}
    if type(value) is list:
        return [_plain(item) for item in value]
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    if isinstance(value, msgpack.ExtType):
        raise TypeError(f"MessagePack extension type {value.code} is not supported in a record")
    return value
