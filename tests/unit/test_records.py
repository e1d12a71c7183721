"""The Kafka record format: packing, counting and handing records to ClickHouse as JSONEachRow."""

from __future__ import annotations

import orjson
import pytest

from lookout.records import (
    EVENTS_HEADER,
    FORMAT_HEADER,
    MAX_RECORD_BYTES,
    decode_events,
    encode_events,
    events_in,
    json_rows,
)


def _events(n: int, size: int = 100) -> list[bytes]:
    return [orjson.dumps({"kind": "log", "n": i, "pad": "x" * size}) for i in range(n)]


def test_one_record_carries_all_events_with_its_count():
    encoded = _events(3)
    (record,) = list(encode_events(encoded))
    assert decode_events(record.value) == [orjson.loads(e) for e in encoded]
    assert record.events == 3
    assert record.headers == [FORMAT_HEADER, (EVENTS_HEADER, b"3")]


def test_events_are_split_across_records_below_the_size_limit_and_counted_per_record():
    encoded = _events(30, size=60_000)
    records = list(encode_events(encoded))
    assert len(records) > 1
    assert all(len(r.value) <= MAX_RECORD_BYTES for r in records)
    assert [e for r in records for e in decode_events(r.value)] == [orjson.loads(e) for e in encoded]
    assert [r.events for r in records] == [len(decode_events(r.value)) for r in records]


def test_events_in_prefers_the_count_header_and_decodes_without_it():
    value = b'[{"a":1},{"a":2}]'
    assert events_in(value, [(EVENTS_HEADER, b"7")]) == 7  # the header is trusted: no parsing
    assert events_in(value, []) == 2
    assert events_in(value, None) == 2
    assert events_in(value, [(EVENTS_HEADER, b"many")]) == 2  # a bad header is ignored
    assert events_in(value, [(EVENTS_HEADER, b"-1")]) == 2
    assert events_in(b"not json", None) == 1  # dead-lettered as a whole later


def test_decode_events_refuses_anything_but_an_array():
    with pytest.raises(ValueError):
        decode_events(b'{"a":1}')
    with pytest.raises(ValueError):
        decode_events(b"[1,")


def test_json_rows_strips_the_brackets_only():
    assert json_rows(b'[{"a":1},{"b":"[x]"}]') == b'{"a":1},{"b":"[x]"}'
    assert json_rows(b"[]") == b""
    for bad in (b"", b"[", b'{"a":1}', b'[{"a":1}]\n'):
        with pytest.raises(ValueError):
            json_rows(bad)
