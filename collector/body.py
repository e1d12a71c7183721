"""Turning a request body into a list of decoded events, with every limit enforced before it can hurt.

Pure functions, no Flask: the HTTP layer maps each :class:`BodyError` subclass to its ``status``.

Limits policy (``BodyLimits``):

* ``max_body_bytes`` applies to the body as received and again after decompression; gzip is inflated
  incrementally and stops one byte past the limit, so a gzip bomb costs at most that much memory -> 413.
* ``max_events``: more items than this in one body -> 413 for the whole request (the client must split
  its batches; accepting a prefix would make retries ambiguous).
* ``max_event_bytes``: an oversized single event becomes a :class:`BadItem` in its slot, not a 413, because
  the contract says a mixed batch keeps its good events. Size is the NDJSON line length, or for a JSON
  array the event's compact re-encoding (whitespace in the client's formatting is not held against it).

Format policy: a JSON body may be an array of events or a single event object (a batch of one); any other
top-level value is malformed. An empty array or an NDJSON body with no lines yields no items and the
caller decides what that means. In NDJSON a line that is not valid JSON (or not UTF-8) becomes a
:class:`BadItem` so one bad line doesn't sink the batch; blank lines are skipped and do not count as items.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from lookout.settings import Settings

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson"})
_UTF8_BOM = b"\xef\xbb\xbf"


class BodyError(Exception):
    """The request body as a whole cannot be accepted; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedBody(BodyError):
    status = 400


class BodyTooLarge(BodyError):
    status = 413


class UnsupportedMediaType(BodyError):
    status = 415


class UnsupportedEncoding(BodyError):
    status = 415


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_body_bytes: int
    max_events: int
    max_event_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(settings.max_body_bytes, settings.max_events_per_request, settings.max_event_bytes)


@dataclass(frozen=True, slots=True)
class BadItem:
    """An item of the batch that could not even be decoded; it keeps its index in the batch."""

    reason: str


@dataclass(slots=True)
class ParsedBody:
    items: list[object]  # decoded JSON values, or BadItem in the slot of an item that failed to decode


def media_type(content_type: str | None, accepted: frozenset[str]) -> str:
    """The lower-cased media type of a Content-Type header if it is one of ``accepted``, else 415.

    A charset parameter is allowed but must be UTF-8, the only encoding JSON may use on the wire.
    """
    if not content_type:
        raise UnsupportedMediaType(f"missing Content-Type; use one of {', '.join(sorted(accepted))}")
    kind, _, params = content_type.partition(";")
    kind = kind.strip().lower()
    if kind not in accepted:
        raise UnsupportedMediaType(f"unsupported Content-Type {kind!r}; use one of {', '.join(sorted(accepted))}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"unsupported charset {value.strip()!r}; JSON must be UTF-8")
    return kind


def inflate(data: bytes, content_encoding: str | None, max_bytes: int,
            account: Callable[[int], None] | None = None) -> bytes:
    """The body with its Content-Encoding removed, at most ``max_bytes`` long (else BodyTooLarge).

    ``account`` is told the size of a decompressed body, which is new memory the caller may have to hold
    against a budget (collector.intake.hold_body_bytes), and may refuse it by raising.
    """
    if len(data) > max_bytes:
        raise BodyTooLarge(f"body exceeds {max_bytes} bytes")
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}; use gzip or identity")
    body = _gunzip(data, max_bytes)
    if account is not None:
        account(len(body))
    return body


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    out = bytearray()
    pending = data
    # A gzip file may hold several members back to back (RFC 1952 2.2); each needs a fresh decompressor.
    while pending:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            while not inflater.eof:
                # max_length caps what one call may produce, so a small input that inflates to gigabytes
                # is cut off one byte past the limit instead of being inflated in full.
                chunk = inflater.decompress(pending, max_bytes + 1 - len(out))
                out += chunk
                if len(out) > max_bytes:
                    raise BodyTooLarge(f"decompressed body exceeds {max_bytes} bytes")
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    raise MalformedBody("invalid gzip data: truncated")
        except zlib.error as exc:
            raise MalformedBody(f"invalid gzip data: {exc}") from None
        pending = inflater.unused_data
    if not out and not data:
        raise MalformedBody("invalid gzip data: empty")
    return bytes(out)


def _json_error(exc: orjson.JSONDecodeError) -> str:
    # orjson's messages are precise ("unexpected character ... line 1 column 7"); they only need a prefix.
    return f"invalid JSON: {exc}"


def _parse_json(body: bytes, limits: BodyLimits) -> list[object]:
    try:
        # orjson rejects invalid UTF-8, lone surrogates, NaN/Infinity, and nesting deeper than 1024 levels
        # with a JSONDecodeError (not a RecursionError), which is exactly the 400 we want.
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(_json_error(exc)) from None
    if type(value) is dict:
        items: list[object] = [value]
    elif type(value) is list:
        items = value
    else:
        raise MalformedBody("top-level JSON must be an array of events or a single event object")
    if len(items) > limits.max_events:
        raise BodyTooLarge(f"{len(items)} events in one request; the limit is {limits.max_events}")
    # Only when the whole body is bigger than one event may be can any single event be too big.
    if len(body) > limits.max_event_bytes:
        max_event = limits.max_event_bytes
        dumps = orjson.dumps
        for index, item in enumerate(items):
            try:
                size = len(dumps(item))
            except orjson.JSONEncodeError as exc:
                # orjson decodes 1024 levels of nesting but encodes 254; the contract allows far fewer.
                items[index] = BadItem(f"event is nested too deeply to be measured: {exc}")
                continue
            if size > max_event:
                items[index] = BadItem(f"event is {size} bytes; the limit is {max_event}")
    return items


def _parse_ndjson(body: bytes, limits: BodyLimits) -> list[object]:
    lines = [line for line in body.split(b"\n") if line.strip()]
    if len(lines) > limits.max_events:
        raise BodyTooLarge(f"{len(lines)} events in one request; the limit is {limits.max_events}")
    max_event = limits.max_event_bytes
    loads = orjson.loads
    items: list[object] = []
    append = items.append
    for line in lines:
        if len(line) > max_event:
            # Not even parsed: the size alone decides, and parsing it would be wasted work.
            append(BadItem(f"event is {len(line)} bytes; the limit is {max_event}"))
            continue
        try:
            append(loads(line))  # orjson ignores the \r of CRLF line ends as whitespace
        except orjson.JSONDecodeError as exc:
            append(BadItem(_json_error(exc)))
    return items


def parse_body(data: bytes, content_type: str | None, content_encoding: str | None,
               limits: BodyLimits, account: Callable[[int], None] | None = None) -> ParsedBody:
    """Decode a ``POST /v1/events`` body into its items; raise a BodyError subclass for the whole body.
    ``account`` as for :func:`inflate`."""
    kind = media_type(content_type, JSON_TYPES | NDJSON_TYPES)
    body = inflate(data, content_encoding, limits.max_body_bytes, account)
    # RFC 8259 lets a parser ignore a leading BOM, and some Windows tooling writes one; orjson refuses it.
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM):]
    if kind in NDJSON_TYPES:
        return ParsedBody(_parse_ndjson(body, limits))
    return ParsedBody(_parse_json(body, limits))
