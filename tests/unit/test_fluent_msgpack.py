"""Fluent Bit's msgpack body, written out byte for byte from its documented layout (a 2-element array of the
timestamp and a string-keyed map; the timestamp an integer, a float64 or EventTime, ext type 0 with big-endian
seconds and nanoseconds; Fluent Bit 2.1+ wraps it as [timestamp, metadata])."""

from __future__ import annotations

import pytest

from collector.body import BadItem, BodyLimits, BodyTooLarge, MalformedBody
from collector.field_mapping import map_document
from collector.fluent_msgpack import parse_records

LIMITS = BodyLimits(max_body_bytes=1 << 20, max_events=10, max_event_bytes=200)


def _str(text: str) -> bytes:  # fixstr (shorter than 32 bytes) or str 8
    data = text.encode()
    return (bytes([0xA0 | len(data)]) if len(data) < 32 else b"\xd9" + bytes([len(data)])) + data


def _map(pairs: dict[str, str]) -> bytes:  # fixmap of strings
    return bytes([0x80 | len(pairs)]) + b"".join(_str(k) + _str(v) for k, v in pairs.items())


# [EventTime(1796122800, 500000000), {"log": ..., "host": ...}]: 0x92 fixarray(2), 0xd7 0x00 fixext 8 of type 0
EVENT_TIME = b"\x92\xd7\x00" + (1796122800).to_bytes(4, "big") + (500_000_000).to_bytes(4, "big")
RECORD = _map({"log": "Core: initialization and 32 bit fixes.", "host": "fb-1"})
# the same with an integer timestamp (0xce uint32) and in Fluent Bit 2.1's [[timestamp, {}], record] form
INT_TIME = b"\x92\xce" + (1796122801).to_bytes(4, "big")
V2_TIME = b"\x92\x92\xce" + (1796122802).to_bytes(4, "big") + _map({"k": "v"})
FLOAT_TIME = b"\x92\xcb\x41\xda\xc3\xaa\x2c\x20\x00\x00"  # float64 1796122800.5


def test_documented_layouts() -> None:
    body = EVENT_TIME + RECORD + INT_TIME + RECORD + V2_TIME + RECORD + FLOAT_TIME + RECORD
    records = parse_records(body, LIMITS)
    assert [r["date"] for r in records] == [1796122800.5, 1796122801, 1796122802, 1796122800.5]
    assert records[0] == {"log": "Core: initialization and 32 bit fixes.", "host": "fb-1", "date": 1796122800.5}
    assert records[2]["fluent_metadata"] == {"k": "v"}
    event = map_document(records[0], default_kind="log", received_ms=0, fallback_service="fluent")
    assert (event["message"], event["instance"], event["timestamp"], event["service"]) == (
        "Core: initialization and 32 bit fixes.",
        "fb-1",
        1796122800500,
        "fluent",
    )


def test_bad_values_are_refused_alone_and_a_cut_body_keeps_what_came_before() -> None:
    body = EVENT_TIME + RECORD + b"\xa3abc" + b"\x92\xa3now" + RECORD + EVENT_TIME + RECORD[:5]
    records = parse_records(body, LIMITS)
    assert records[0]["host"] == "fb-1"
    assert records[1] == BadItem("each Fluent Bit event must be [timestamp, {record}]")
    assert records[2] == BadItem("the event timestamp must be an integer, a float or an EventTime")
    assert isinstance(records[3], BadItem) and "ends inside" in records[3].reason
    assert len(records) == 4


def test_limits() -> None:
    big = b"\x92\xce" + (1796122801).to_bytes(4, "big") + _map({"log": "x" * 250})
    assert parse_records(big + INT_TIME + RECORD, LIMITS)[0] == BadItem("record is 263 bytes; the limit is 200")
    with pytest.raises(BodyTooLarge):
        parse_records((INT_TIME + RECORD) * 11, LIMITS)
    with pytest.raises(MalformedBody):
        parse_records(b"", LIMITS)
    with pytest.raises(MalformedBody):
        parse_records(b"\xc1", LIMITS)  # 0xc1 is never used in MessagePack
