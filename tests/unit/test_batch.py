"""Batches of records and their decoding event by event (pure: no Kafka, no database)."""

from __future__ import annotations

import orjson

from pipeline.batch import Batch, Source, decode_records
from pipeline.rows import PoisonEvent
from pipeline.sinks import SinkRejected
from pipeline.steps.writer import isolate


def test_batch_tracks_records_offsets_and_events_per_partition():
    batch = Batch(created_at=100.0)
    assert not batch
    assert not batch.is_ready(1000.0, max_rows=10, max_wait_s=1)
    batch.add("t", 0, 5, b"[1]", 4)
    batch.add("t", 1, 9, b"[2]", 3)
    batch.add("t", 0, 6, None, 2)
    assert batch
    assert batch.events == 9
    assert batch.offsets == {("t", 0): (5, 6), ("t", 1): (9, 9)}
    assert batch.commit_offsets() == {("t", 0): 7, ("t", 1): 10}
    assert batch.dedup_token("t") == "t:0:5-6,1:9-9"
    batch.add("u", 3, 1, b"[3]", 1)
    assert batch.dedup_token("u") == "u:3:1-1"
    assert batch.by_topic() == {
        "t": {0: batch.records[("t", 0)], 1: batch.records[("t", 1)]},
        "u": {3: batch.records[("u", 3)]},
    }
    assert batch.records[("t", 0)][1].value == b""  # a tombstone is kept (and dead-lettered later)


def test_batch_is_ready_on_rows_or_on_age():
    batch = Batch(created_at=100.0)
    batch.add("t", 0, 0, b"[]", 5)
    assert not batch.is_ready(100.5, max_rows=10, max_wait_s=1)
    assert batch.is_ready(101.0, max_rows=10, max_wait_s=1)
    batch.add("t", 0, 1, b"[]", 5)
    assert batch.is_ready(100.0, max_rows=10, max_wait_s=1)


def _payload(event):
    if event.get("bad"):
        raise PoisonEvent("bad: true")
    return event["n"]


def test_decode_records_traces_every_event_and_dead_letters_the_bad_ones():
    batch = Batch(0.0)
    batch.add("t", 2, 10, orjson.dumps([{"n": 1}, {"n": 2, "bad": True}, {"n": 3}]), 3)
    batch.add("t", 2, 11, b"not json", 1)
    batch.add("t", 2, 12, b'{"n": 4}', 1)  # an object, not an array of events
    batch.add("t", 2, 13, orjson.dumps([{"n": 5}]), 1)
    batch.add("t", 4, 0, orjson.dumps([{"n": 6}]), 1)
    decoded = decode_records("t", batch.by_topic()["t"], _payload)
    assert decoded.payloads == [1, 3, 5, 6]
    assert [source for source, _event in decoded.events] == [
        Source("t", 2, 10, 0),
        Source("t", 2, 10, 2),
        Source("t", 2, 13, 0),
        Source("t", 4, 0, 0),
    ]
    letters = {(d.source.offset, d.source.index): d for d in decoded.dead_letters}
    assert set(letters) == {(10, 1), (11, None), (12, None)}
    assert letters[(10, 1)].reason == "bad: true"
    assert orjson.loads(letters[(10, 1)].original) == {"n": 2, "bad": True}
    assert letters[(11, None)].original == b"not json"
    assert letters[(11, None)].reason.startswith("undecodable record")


def test_isolate_writes_everything_but_the_refused_items():
    items = list(range(100))
    poison = {7, 8, 63}
    written: list[int] = []
    calls = 0

    def write(lo: int, hi: int) -> None:
        nonlocal calls
        calls += 1
        bad = poison.intersection(items[lo:hi])
        if bad:
            raise SinkRejected(f"item {min(bad)} is bad")
        written.extend(items[lo:hi])

    refused = isolate(write, len(items))
    assert sorted(written) == [i for i in items if i not in poison]
    assert refused == [(7, "item 7 is bad"), (8, "item 8 is bad"), (63, "item 63 is bad")]
    assert calls < 40  # bisection, not one write per item


def test_isolate_of_nothing_writes_nothing():
    def write(lo: int, hi: int) -> None:
        raise AssertionError("no write expected")

    assert isolate(write, 0) == []
