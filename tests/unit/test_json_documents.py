"""The framings of shippers' HTTP outputs, with bodies as their documentation shows them. Pure logic."""

from __future__ import annotations

import pytest

from collector.body import BadItem, BodyLimits, BodyTooLarge, MalformedBody
from collector.json_documents import parse_documents

LIMITS = BodyLimits(max_body_bytes=10_000, max_events=5, max_event_bytes=200)
FB_1 = b'{"date":1599581011.138817,"log":"first line","stream":"stdout"}'
FB_2 = b'{"date":1599581012.5,"log":"second line","stream":"stderr"}'


@pytest.mark.parametrize(
    "body",
    [
        b"[" + FB_1 + b"," + FB_2 + b"]",  # Fluent Bit format json, Vector codec json
        FB_1 + b"\n" + FB_2 + b"\n",  # Fluent Bit json_lines, Vector ndjson
        FB_1 + FB_2,  # Fluent Bit json_stream: back to back
        b"\xef\xbb\xbf" + FB_1 + b"\r\n" + FB_2,
    ],
)
def test_every_framing_gives_the_same_records(body: bytes) -> None:
    assert parse_documents(body, LIMITS) == [
        {"date": 1599581011.138817, "log": "first line", "stream": "stdout"},
        {"date": 1599581012.5, "log": "second line", "stream": "stderr"},
    ]


def test_a_single_object_is_one_record() -> None:
    assert parse_documents(b'{"MESSAGE": "x"}', LIMITS) == [{"MESSAGE": "x"}]


def test_a_bad_line_is_refused_alone() -> None:
    items = parse_documents(FB_1 + b"\n{broken\n" + FB_2 + b"{oops", LIMITS)
    assert items[0]["log"] == "first line" and isinstance(items[1], BadItem)
    assert items[2]["log"] == "second line" and isinstance(items[3], BadItem)


def test_oversized_records_are_refused_alone() -> None:
    big = b'{"log": "' + b"x" * 300 + b'"}'
    assert isinstance(parse_documents(big + b"\n" + FB_1, LIMITS)[0], BadItem)
    items = parse_documents(b"[" + big + b"," + FB_1 + b"]", LIMITS)
    assert isinstance(items[0], BadItem) and items[1]["log"] == "first line"


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"", MalformedBody), (b"  \n", MalformedBody), (b"3", MalformedBody), (b"[" + b"{}," * 5 + b"{}]", BodyTooLarge)],
)
def test_whole_body_refusals(body: bytes, error: type) -> None:
    with pytest.raises(error):
        parse_documents(body, LIMITS)
