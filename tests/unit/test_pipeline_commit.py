"""The commit step: commits what it is given through the driver, counts it, never refuses."""

from __future__ import annotations

from pipeline.batch import DeadLetter, Source
from pipeline.steps.base import ConsumerStatus, Offsets, Written
from pipeline.steps.commit import CommitOffsets


def test_each_batch_is_committed_through_the_driver_and_counted():
    commits: list[Offsets] = []
    status = ConsumerStatus("test")
    step = CommitOffsets(commits.append, status)
    letter = DeadLetter(Source("t.log", 0, 3, None), "undecodable record", b"x")
    step.submit(Written({("t.log", 0): 4, ("t.log", 1): 9}, 120, [letter]))
    step.submit(Written({("t.log", 0): 7}, 30, []))
    step.poll()
    step.join(1.0)
    assert commits == [{("t.log", 0): 4, ("t.log", 1): 9}, {("t.log", 0): 7}]
    assert (status.rows_written, status.dead_lettered, status.batches) == (150, 1, 2)
