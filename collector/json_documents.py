"""Bodies of JSON log records in the framings shippers' HTTP outputs use. Pure: no I/O.

One parser for all of them, because the framing is in the body, not in a Content-Type these tools set
reliably (syslog-ng's ``http()`` sends none unless configured): a JSON array (Vector's ``json`` codec,
Fluent Bit's ``json``, rsyslog's ``jsonarray`` batches), a single object (syslog-ng without batching),
newline-delimited objects (Vector's ``ndjson``, Fluent Bit's ``json_lines``, rsyslog's ``newline``
batches, syslog-ng with ``body-suffix("\\n")``), or objects back to back with nothing between them
(Fluent Bit's ``json_stream``). The limits are those of ``POST /v1/events`` (see collector.body).
"""

from __future__ import annotations

import json

import orjson

from collector.body import BadItem, BodyLimits, BodyTooLarge, MalformedBody

_UTF8_BOM = b"\xef\xbb\xbf"
_DECODER = json.JSONDecoder()


def parse_documents(body: bytes, limits: BodyLimits) -> list[object]:
    """The records of a body, in order; one that cannot be decoded is a BadItem in its slot."""
    body = body.removeprefix(_UTF8_BOM)
    if not body.strip():
        raise MalformedBody("empty body: send at least one JSON log record")
    try:
        whole = orjson.loads(body)
    except orjson.JSONDecodeError:
        items = [value for line in body.split(b"\n") if line.strip() for value in _line_values(line, limits)]
    else:
        if type(whole) is dict:
            items = [whole]
        elif type(whole) is list:
            items = whole
            if len(body) > limits.max_event_bytes:
                items = [_sized(item, limits.max_event_bytes) for item in items]
        else:
            raise MalformedBody("a JSON body must be an array of log records or one record object")
    if len(items) > limits.max_events:
        raise BodyTooLarge(f"{len(items)} records in one request; the limit is {limits.max_events}")
    return items


def _line_values(line: bytes, limits: BodyLimits) -> list[object]:
    try:
        return [_sized_line(line, orjson.loads(line), limits.max_event_bytes)]
    except orjson.JSONDecodeError as first_error:
        # Not one value: perhaps several back to back (json_stream); the standard library's raw_decode
        # finds where each ends.
        try:
            text = line.decode()
        except UnicodeDecodeError:
            return [BadItem(f"invalid JSON: {first_error}")]
        values: list[object] = []
        position = 0
        while position < len(text):
            try:
                value, end = _DECODER.raw_decode(text, position)
            except json.JSONDecodeError:
                return [*values, BadItem(f"invalid JSON: {first_error}")]
            values.append(_sized(value, limits.max_event_bytes))
            position = end
            while position < len(text) and text[position] in " \t\r,":
                position += 1
        return values


def _sized_line(line: bytes, value: object, max_event_bytes: int) -> object:
    return BadItem(f"record is {len(line)} bytes; the limit is {max_event_bytes}") if len(line) > max_event_bytes \
        else value


def _sized(value: object, max_event_bytes: int) -> object:
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as exc:
        return BadItem(f"record is nested too deeply to be measured: {exc}")
    return BadItem(f"record is {size} bytes; the limit is {max_event_bytes}") if size > max_event_bytes else value
