"""Request body parsing: media types, encodings, limits, gzip bombs, deep nesting, NDJSON."""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib

import orjson
import pytest

from collector.body import (
    BadItem,
    BodyError,
    BodyLimits,
    BodyTooLarge,
    MalformedBody,
    ParsedBody,
    UnsupportedEncoding,
    UnsupportedMediaType,
    inflate,
    parse_body,
)
from lookout.settings import Settings

MIB = 1024 * 1024
LIMITS = BodyLimits(max_body_bytes=MIB, max_events=100, max_event_bytes=1024)
JSON = "application/json"
NDJSON = "application/x-ndjson"
EVENT = {"kind": "log", "timestamp": 1714566896789, "service": "api", "level": "info", "message": "hi"}


def parse(
    data: bytes, content_type: str | None = JSON, encoding: str | None = None, limits: BodyLimits = LIMITS
) -> list[object]:
    parsed = parse_body(data, content_type, encoding, limits)
    assert isinstance(parsed, ParsedBody)
    return parsed.items


def test_status_codes_of_the_errors() -> None:
    assert (MalformedBody.status, BodyTooLarge.status, UnsupportedMediaType.status, UnsupportedEncoding.status) == (
        400,
        413,
        415,
        415,
    )
    assert all(
        issubclass(cls, BodyError) for cls in (MalformedBody, BodyTooLarge, UnsupportedMediaType, UnsupportedEncoding)
    )
    assert MalformedBody("x").reason == "x"


def test_limits_from_settings() -> None:
    settings = Settings.from_env({})
    limits = BodyLimits.from_settings(settings)
    assert limits == BodyLimits(settings.max_body_bytes, settings.max_events_per_request, settings.max_event_bytes)


# --- JSON ----------------------------------------------------------------------------------------------


def test_json_array() -> None:
    assert parse(orjson.dumps([EVENT, EVENT])) == [EVENT, EVENT]


def test_single_object_is_a_batch_of_one() -> None:
    assert parse(orjson.dumps(EVENT)) == [EVENT]


def test_empty_array_is_left_to_the_caller() -> None:
    assert parse(b"[]") == []
    assert parse(b"  [ ]\n") == []


def test_non_object_items_are_returned_for_the_validator_to_reject() -> None:
    assert parse(b'[1, "x", null, {}]') == [1, "x", None, {}]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid JSON"),
        (b"{", "invalid JSON"),
        (b"[1,]", "invalid JSON"),
        (b"[NaN]", "invalid JSON"),
        (b"[Infinity]", "invalid JSON"),
        (b'["\xff\xfe"]', "invalid JSON"),  # invalid UTF-8
        (b'["\\ud800"]', "invalid JSON"),  # lone surrogate
        (b"[1] [2]", "invalid JSON"),
        (b'"a string"', "top-level JSON must be an array of events or a single event object"),
        (b"42", "top-level JSON must be an array of events or a single event object"),
        (b"null", "top-level JSON must be an array of events or a single event object"),
    ],
)
def test_malformed_json(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedBody) as info:
        parse(body)
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_malformed_not_a_recursion_error(opener: bytes) -> None:
    body = opener * 100_000
    with pytest.raises(MalformedBody, match="invalid JSON"):
        parse(body, limits=BodyLimits(max_body_bytes=10 * MIB, max_events=100, max_event_bytes=1024))


def test_utf8_bom_is_tolerated() -> None:
    assert parse(b"\xef\xbb\xbf" + orjson.dumps([EVENT])) == [EVENT]


# --- media types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; charset=utf8",
        "application/x-ndjson",
        "application/ndjson; charset=utf-8",
    ],
)
def test_accepted_media_types(content_type: str) -> None:
    assert parse(orjson.dumps(EVENT), content_type) == [EVENT]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json-seq",
        "application/jsonl",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "application/x-protobuf",
    ],
)
def test_rejected_media_types(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        parse(orjson.dumps(EVENT), content_type)


# --- encodings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY"])
def test_identity_encodings(encoding: str | None) -> None:
    assert parse(orjson.dumps([EVENT]), encoding=encoding) == [EVENT]


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", " gzip "])
def test_gzip(encoding: str) -> None:
    assert parse(gzip.compress(orjson.dumps([EVENT])), encoding=encoding) == [EVENT]
    assert parse(gzip.compress(orjson.dumps(EVENT) + b"\n"), NDJSON, encoding) == [EVENT]


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "compress", "gzip, br", "gzip,identity"])
def test_unsupported_encodings(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        parse(gzip.compress(b"[]"), encoding=encoding)


def test_concatenated_gzip_members_are_one_body() -> None:
    body = gzip.compress(b'[{"a": 1},') + gzip.compress(b'{"b": 2}]')
    assert parse(body, encoding="gzip") == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not gzip at all",
        gzip.compress(b"[1, 2, 3]" * 100)[:-12],
        gzip.compress(b"[]")[:12],
        gzip.compress(b"[]") + b"trailing garbage",
        zlib.compress(b"[]"),
    ],
)
def test_invalid_gzip(data: bytes) -> None:
    with pytest.raises(MalformedBody, match="invalid gzip data"):
        parse(data, encoding="gzip")


def test_gzip_with_corrupted_checksum() -> None:
    data = bytearray(gzip.compress(b"[]"))
    data[-8] ^= 0xFF
    with pytest.raises(MalformedBody, match="invalid gzip data"):
        parse(bytes(data), encoding="gzip")


def test_body_over_the_limit_before_decompression() -> None:
    limits = BodyLimits(max_body_bytes=100, max_events=100, max_event_bytes=1024)
    with pytest.raises(BodyTooLarge):
        parse(b"[" + b" " * 200 + b"]", limits=limits)
    assert parse(b"[" + b" " * 98 + b"]", limits=limits) == []


def test_decompressed_body_over_the_limit() -> None:
    limits = BodyLimits(max_body_bytes=1000, max_events=100, max_event_bytes=1024)
    exactly = b"[" + b" " * 998 + b"]"
    assert parse(gzip.compress(exactly), encoding="gzip", limits=limits) == []
    with pytest.raises(BodyTooLarge, match="decompressed body exceeds 1000 bytes"):
        parse(gzip.compress(b"[" + b" " * 999 + b"]"), encoding="gzip", limits=limits)


def gzip_bomb(total_bytes: int) -> bytes:
    """A valid gzip stream of ``total_bytes`` zeros, built without ever holding or compressing them all.

    One MiB of zeros is deflated once and ended with a full flush, which byte-aligns the output and
    resets the compressor's history; that segment can therefore be repeated verbatim, each copy
    inflating to the same MiB. The trailer's CRC-32 is computed incrementally over the same chunk.
    """
    chunk = bytes(MIB)
    assert total_bytes % MIB == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    segment = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    final_block = compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(total_bytes // MIB):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + (total_bytes % 2**32).to_bytes(4, "little")
    return header + segment * (total_bytes // MIB) + final_block + trailer


def test_gzip_bomb_construction_is_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(3 * MIB)) == bytes(3 * MIB)


def test_gzip_bomb_stops_at_the_limit_without_inflating_it_all() -> None:
    bomb = gzip_bomb(1024 * MIB)  # 1 GiB of zeros
    assert len(bomb) < 1.1 * MIB
    limits = BodyLimits(max_body_bytes=5 * MIB, max_events=10_000, max_event_bytes=256 * 1024)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(BodyTooLarge, match="decompressed body exceeds"):
            parse(bomb, encoding="gzip", limits=limits)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Inflating the whole GiB would take seconds and a GiB; stopping at 5 MiB takes milliseconds.
    assert elapsed < 2.0
    assert peak < 24 * MIB


def test_inflate_is_usable_on_its_own() -> None:
    assert inflate(gzip.compress(b"payload"), "gzip", 100) == b"payload"
    assert inflate(b"payload", None, 100) == b"payload"
    with pytest.raises(BodyTooLarge):
        inflate(gzip.compress(b"x" * 101), "gzip", 100)


# --- limits on events ---------------------------------------------------------------------------------------


def test_too_many_events_is_413() -> None:
    assert len(parse(orjson.dumps([{}] * 100))) == 100
    with pytest.raises(BodyTooLarge, match="101 events in one request; the limit is 100"):
        parse(orjson.dumps([{}] * 101))
    with pytest.raises(BodyTooLarge, match="101 events"):
        parse(b"{}\n" * 101, NDJSON)


def test_oversized_event_in_an_array_is_a_bad_item_in_its_slot() -> None:
    big = {"message": "x" * 2000}
    items = parse(orjson.dumps([EVENT, big, EVENT]))
    assert items[0] == EVENT and items[2] == EVENT
    assert isinstance(items[1], BadItem)
    assert items[1].reason == f"event is {len(orjson.dumps(big))} bytes; the limit is 1024"


def test_event_size_is_measured_compact() -> None:
    # Pretty-printed, the event is bigger than the limit; its compact form is not.
    event = {"message": "x" * 900}
    pretty = orjson.dumps([event, event], option=orjson.OPT_INDENT_2).replace(b"\n", b"\n" + b" " * 100)
    assert len(pretty) > 2 * 1024
    assert parse(pretty) == [event, event]


def test_oversized_ndjson_line_is_a_bad_item() -> None:
    body = orjson.dumps(EVENT) + b"\n" + orjson.dumps({"message": "x" * 2000}) + b"\n" + orjson.dumps(EVENT)
    items = parse(body, NDJSON)
    assert items[0] == EVENT and items[2] == EVENT
    assert isinstance(items[1], BadItem) and items[1].reason.endswith("bytes; the limit is 1024")


# --- NDJSON ---------------------------------------------------------------------------------------------------


def test_ndjson_with_one_bad_line_keeps_the_others() -> None:
    body = b'{"a": 1}\n{"b": \n{"c": 3}\n[1, 2]\n'
    items = parse(body, NDJSON)
    assert items[0] == {"a": 1}
    assert isinstance(items[1], BadItem) and items[1].reason.startswith("invalid JSON: ")
    assert items[2:] == [{"c": 3}, [1, 2]]


def test_ndjson_invalid_utf8_line_is_a_bad_item() -> None:
    items = parse(b'{"a": 1}\n{"b": "\xff"}\n', NDJSON)
    assert items[0] == {"a": 1} and isinstance(items[1], BadItem)


def test_ndjson_blank_lines_and_crlf() -> None:
    body = b'\n{"a": 1}\r\n\r\n   \n{"b": 2}\r\n\n'
    assert parse(body, NDJSON) == [{"a": 1}, {"b": 2}]
    assert parse(b"", NDJSON) == []
    assert parse(b"\n\n", NDJSON) == []


def test_ndjson_deep_nesting_is_a_bad_item() -> None:
    items = parse(
        b'{"a": 1}\n' + b"[" * 5000 + b"\n",
        NDJSON,
        limits=BodyLimits(max_body_bytes=MIB, max_events=100, max_event_bytes=10_000),
    )
    assert items[0] == {"a": 1} and isinstance(items[1], BadItem)


@pytest.mark.parametrize("depth", [255, 300, 1000])
def test_an_item_too_deep_to_re_encode_is_a_bad_item_when_sizes_are_measured(depth: int) -> None:
    # orjson decodes 1024 levels but encodes only 254: measuring the item must not raise.
    deep = b"[" * depth + b"0" + b"]" * depth
    body = b"[" + deep + b"," + orjson.dumps({**EVENT, "message": "x" * 2000}) + b"," + orjson.dumps(EVENT) + b"]"
    items = parse(body)
    assert isinstance(items[0], BadItem) and "nested" in items[0].reason
    assert isinstance(items[1], BadItem) and "limit" in items[1].reason
    assert items[2] == EVENT


def test_an_item_of_254_levels_is_measured() -> None:
    deep: object = 0
    for _ in range(254):
        deep = [deep]
    body = b"[" + orjson.dumps(deep) + b"," + orjson.dumps({**EVENT, "message": "x" * 2000}) + b"]"
    assert parse(body)[0] == deep
