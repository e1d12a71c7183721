"""Loki push bodies: labels, JSON (both versions) and snappy protobuf, mapped to raw events. Pure logic."""

from __future__ import annotations

import cramjam
import orjson
import pytest

from collector.body import BadItem, BodyTooLarge, MalformedBody
from collector.loki import LabelError, decode, events, parse_labels

NS = 1_764_583_200_123_456_789


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand (independently of the decoder under test)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def push_request(labels: str, entries: list[tuple[int, str, dict[str, str]]]) -> bytes:
    encoded = b""
    for ns, line, metadata in entries:
        timestamp = varint(1 << 3) + varint(ns // 10**9) + varint(2 << 3) + varint(ns % 10**9)
        pairs = b"".join(field(3, field(1, k.encode()) + field(2, v.encode())) for k, v in metadata.items())
        encoded += field(2, field(1, timestamp) + field(2, line.encode()) + pairs)
    return field(1, field(1, labels.encode()) + encoded)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ('{app="shop", level="warn"}', {"app": "shop", "level": "warn"}),
        ('{a="x\\"y\\\\z", b="line\\nbreak",}', {"a": 'x"y\\z', "b": "line\nbreak"}),
        ("{}", {}),
    ],
)
def test_parse_labels(text: str, labels: dict) -> None:
    assert parse_labels(text) == labels


@pytest.mark.parametrize("text", ['app="x"', "{app=x}", '{app="x" level="y"}', '{9a="x"}'])
def test_bad_labels(text: str) -> None:
    with pytest.raises(LabelError):
        parse_labels(text)


def test_protobuf_push_maps_labels_and_structured_metadata() -> None:
    body = cramjam.snappy.compress_raw(
        push_request(
            '{service_name="checkout", level="error", host="web-3", env="prod"}',
            [(NS, "card declined", {"trace_id": "abc"}), (NS + 1, "second", {})],
        )
    )
    streams = decode(bytes(body), "application/x-protobuf", 10_000)
    raw = list(events(streams, default_kind="log", received_ms=0))
    assert raw[0] == {
        "kind": "log",
        "message": "card declined",
        "timestamp": NS // 10**6,
        "level": "error",
        "instance": "web-3",
        "service": "checkout",
        "correlation_id": "abc",
        "metadata": {"env": "prod"},
    }
    assert raw[1]["message"] == "second"


def test_json_push_both_versions() -> None:
    v1 = {
        "streams": [
            {
                "stream": {"job": "api", "detected_level": "warn"},
                "values": [[str(NS), "slow", {"user": "u1"}], ["bad"], [str(NS), 7]],
            }
        ]
    }
    raw = list(events(decode(orjson.dumps(v1), "application/json", 0), default_kind="log", received_ms=0))
    assert raw[0]["service"] == "api" and raw[0]["level"] == "warn" and raw[0]["metadata"] == {"user": "u1"}
    assert isinstance(raw[1], BadItem) and isinstance(raw[2], BadItem)
    v0 = {
        "streams": [
            {
                "labels": '{logger="app.db", severity="warning"}',
                "entries": [{"ts": "2025-12-01T11:00:00.000001+01:00", "line": "x"}],
            }
        ]
    }
    (event,) = events(decode(orjson.dumps(v0), "application/json", 0), default_kind="log", received_ms=0)
    assert (event["service"], event["level"], event["timestamp"]) == (
        "app.db",
        "warning",
        "2025-12-01T11:00:00.000001+01:00",
    )


def test_an_unreadable_stream_is_refused_alone() -> None:
    body = orjson.dumps(
        {
            "streams": [
                {"labels": "nope", "entries": []},
                3,
                {"stream": {"a": 1}, "values": []},
                {"stream": {"app": "a"}, "values": [[str(NS), "ok"]]},
            ]
        }
    )
    raw = list(events(decode(body, "application/json", 0), default_kind="log", received_ms=0))
    assert [type(item) for item in raw] == [BadItem, BadItem, BadItem, dict]


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"not snappy at all", "application/x-protobuf", "snappy"),
        (b"{", "application/json", "invalid JSON"),
        (b"[]", "application/json", "streams"),
    ],
)
def test_malformed_bodies(body: bytes, content_type: str, error: str) -> None:
    with pytest.raises(MalformedBody, match=error):
        decode(body, content_type, 10_000)


def test_invalid_protobuf_inside_valid_snappy() -> None:
    with pytest.raises(MalformedBody, match="protobuf"):
        decode(bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff")), "application/x-protobuf", 10_000)


def test_snappy_bomb_is_refused_before_inflating() -> None:
    body = bytes(cramjam.snappy.compress_raw(b"\0" * 1_000_000))
    with pytest.raises(BodyTooLarge):
        decode(body, "application/x-protobuf", 10_000)


def test_a_json_line_is_read_as_fields_over_the_labels() -> None:
    line = '{"level":50,"time":1,"pid":7,"msg":"boom","req":{"id":"r1"}}'
    body = orjson.dumps(
        {
            "streams": [
                {
                    "stream": {"level": "error", "hostname": "h", "app": "api"},
                    "values": [[str(NS), line], [str(NS), '{"no": "message"}'], [str(NS), "{x"]],
                }
            ]
        }
    )
    first, second, third = events(decode(body, "application/json", 0), default_kind="log", received_ms=0)
    assert (first["message"], first["level"], first["timestamp"], first["request_id"], first["instance"]) == (
        "boom",
        "error",
        NS // 10**6,
        "r1",
        "h",
    )
    assert first["metadata"] == {"pid": 7, "time": 1}
    assert second["message"] == '{"no": "message"}' and second["metadata"] == {"no": "message"}
    assert third["message"] == "{x"
