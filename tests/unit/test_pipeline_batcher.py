"""The batch step, through its interface: batches by size or age, and back-pressure while one waits."""

from __future__ import annotations

import pytest

from pipeline.batch import Batch
from pipeline.steps.base import MessageRejected, Polled
from pipeline.steps.batcher import BatchRecords
from tests.unit.pipeline_fakes import Clock, NextStep


def record(offset: int, events: int = 10, partition: int = 0) -> Polled:
    return Polled("t.log", partition, offset, b"[]", events)


def offsets(batch: Batch) -> dict[tuple[str, int], tuple[int, int]]:
    return batch.offsets


def test_a_batch_closes_on_poll_once_it_holds_max_rows_events_with_all_that_was_offered_before():
    clock, after = Clock(), NextStep()
    step = BatchRecords(max_rows=30, max_wait_s=5, next_step=after, clock=clock)
    step.submit(record(0))
    step.submit(record(1))
    step.poll()
    assert after.items == []  # 20 of 30 events, 0 s old
    step.submit(record(2))
    step.submit(record(3))  # one poll's records: the batch overshoots by at most that
    step.poll()
    assert [offsets(b) for b in after.items] == [{("t.log", 0): (0, 3)}]
    assert after.items[0].events == 40
    step.submit(record(4))
    step.poll()
    assert len(after.items) == 1  # the next batch starts fresh


def test_a_batch_closes_by_age_on_poll():
    clock, after = Clock(), NextStep()
    step = BatchRecords(max_rows=1000, max_wait_s=0.5, next_step=after, clock=clock)
    step.submit(record(7, partition=1))
    step.poll()
    assert after.items == []
    clock.now += 0.5
    step.poll()
    assert [offsets(b) for b in after.items] == [{("t.log", 1): (7, 7)}]


def test_a_full_batch_the_next_step_refuses_waits_and_records_are_refused_meanwhile():
    clock, after = Clock(), NextStep()
    step = BatchRecords(max_rows=20, max_wait_s=5, next_step=after, clock=clock)
    after.refusing = True
    step.submit(record(0))
    step.submit(record(1))
    step.poll()  # the batch is full; the next step refuses it: it waits here
    with pytest.raises(MessageRejected):
        step.submit(record(2))  # a second batch does not grow behind it
    step.poll()
    assert after.items == []
    after.refusing = False
    step.poll()  # handed on once the next step takes it
    step.submit(record(2))  # accepted again, into a new batch
    step.submit(record(3))
    step.poll()
    assert [offsets(b) for b in after.items] == [{("t.log", 0): (0, 1)}, {("t.log", 0): (2, 3)}]


def test_join_hands_on_a_full_batch_still_waiting_then_joins_the_next_step_with_the_time_left():
    clock, after = Clock(), NextStep()
    step = BatchRecords(max_rows=20, max_wait_s=5, next_step=after, clock=clock)
    after.refusing = True
    step.submit(record(0))
    step.submit(record(1))
    step.poll()
    after.refusing = False
    step.join(3.0)
    assert [offsets(b) for b in after.items] == [{("t.log", 0): (0, 1)}]
    assert after.joined == 3.0


def test_join_hands_on_the_batch_being_filled_whatever_its_size_or_age():
    clock, after = Clock(), NextStep()
    step = BatchRecords(max_rows=1000, max_wait_s=5, next_step=after, clock=clock)
    step.submit(record(4))
    step.join(3.0)
    assert [offsets(b) for b in after.items] == [{("t.log", 0): (4, 4)}]
    assert after.joined == 3.0


def test_join_gives_up_what_the_next_step_never_takes_and_still_joins_it():
    after = NextStep()
    step = BatchRecords(max_rows=1000, max_wait_s=5, next_step=after)
    step.submit(record(0))
    after.refusing = True
    step.join(0.05)
    assert after.items == []  # not handed on, so never committed: read again
    assert after.joined == 0.0


def test_terminate_drops_the_batches_and_terminates_the_next_step():
    after = NextStep()
    step = BatchRecords(max_rows=1000, max_wait_s=5, next_step=after)
    step.submit(record(0))
    step.terminate()
    assert after.items == [] and after.terminated
