"""The body reader: any bytes under any Content-Type and Content-Encoding parse into items or raise one
BodyError (400, 413 or 415); a chunked body's framing, however broken, fails only with an error the
collector answers 400 (collector.intake.BODY_READ_ERRORS), never with one that reaches the 500 handler.
"""

from __future__ import annotations

import gzip
import time

import orjson
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser
from hypothesis import example, given
from hypothesis import strategies as st

from collector.body import BadItem, BodyError, BodyLimits, parse_body
from collector.intake import BODY_READ_ERRORS
from tests.fuzz.strategies import dump, json_values

LIMITS = BodyLimits(max_body_bytes=64 * 1024, max_events=50, max_event_bytes=2048)
CONTENT_TYPES = st.one_of(
    st.sampled_from([
        "application/json", "application/x-ndjson", "application/ndjson", "application/json; charset=utf-8",
        "application/json; charset=latin-1", "APPLICATION/JSON", "text/plain", "", ";", "application/json;;=",
    ]),
    st.none(),
    st.text(max_size=30),
)
ENCODINGS = st.one_of(st.sampled_from(["gzip", "x-gzip", "identity", " GZIP ", "br", ""]), st.none(),
                      st.text(max_size=10))


def _ndjson(values: list[object]) -> bytes:
    return b"\n".join(dump(value) for value in values)


def _deep(levels: int) -> bytes:
    return b"[" + b'{"a":' * levels + b"1" + b"}" * levels + b"]"


BODIES = st.one_of(
    st.binary(max_size=512),
    json_values().map(dump),
    st.lists(json_values(), max_size=60).map(_ndjson),
    st.lists(json_values(), max_size=60).map(dump),
    st.builds(lambda raw, cut: gzip.compress(raw)[:cut], st.binary(max_size=256), st.integers(0, 300)),
)


def check(data: bytes, content_type: str | None, encoding: str | None) -> None:
    try:
        parsed = parse_body(data, content_type, encoding, LIMITS)
    except BodyError as exc:
        assert exc.status in (400, 413, 415) and exc.reason
        return
    assert len(parsed.items) <= LIMITS.max_events
    for item in parsed.items:
        assert isinstance(item, BadItem) or len(orjson.dumps(item)) <= LIMITS.max_event_bytes


@given(BODIES, CONTENT_TYPES, ENCODINGS)
@example(b"[" * 1025 + b"]" * 1025, "application/json", None)
@example(_deep(255) + b" " * 4096, "application/json", None)  # once 500: orjson re-encodes 254 levels at most
@example(gzip.compress(b"[1]") + b"\x1f\x8b", "application/json", "gzip")
@example(b"\xef\xbb\xbf[]", "application/json", None)
@example(b"", "application/json", "gzip")
def test_any_body_parses_or_is_refused_as_a_whole(data: bytes, content_type: str | None,
                                                  encoding: str | None) -> None:
    check(data, content_type, encoding)


@given(BODIES, CONTENT_TYPES)
def test_any_gzipped_body_parses_or_is_refused(data: bytes, content_type: str | None) -> None:
    check(gzip.compress(data), content_type, "gzip")


def _chunked(chunks: list[tuple[str, bytes, bytes]]) -> bytes:
    head = b"POST /v1/events HTTP/1.1\r\nHost: collector\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"".join(size.encode("latin-1") + b"\r\n" + data + end for size, data, end in chunks)


CHUNK_SIZES = st.one_of(
    st.integers(0, 64).map(lambda n: f"{n:x}"),
    st.sampled_from(["", "-1", "0x5", "zz", "ffffffffffffffffffffffff", " 5", "5;ext=1", "5 ", "5;\x00", "+5"]),
    st.text(alphabet=st.characters(codec="latin-1"), max_size=8),
)
CHUNKS = st.lists(st.tuples(CHUNK_SIZES, st.binary(max_size=64), st.sampled_from([b"\r\n", b"", b"\n", b"xx"])),
                  max_size=6)


@given(CHUNKS, st.sampled_from([b"0\r\n\r\n", b"", b"0\r\n", b"0\r\nX-Trailer: 1\r\n\r\n"]))
@example([("zz", b"hello", b"\r\n")], b"0\r\n\r\n")  # once 500: gunicorn's InvalidChunkSize was not a 400
@example([("5", b"hello", b"")], b"")
def test_broken_chunked_framing_fails_only_with_a_body_read_error(chunks: list[tuple[str, bytes, bytes]],
                                                                   end: bytes) -> None:
    raw = _chunked(chunks) + end
    request = next(RequestParser(Config(), iter([raw]), ("127.0.0.1", 1)))
    started = time.monotonic()
    try:
        data = request.body.read(LIMITS.max_body_bytes + 1)
    except BODY_READ_ERRORS:
        return
    assert isinstance(data, bytes)
    assert time.monotonic() - started < 5
