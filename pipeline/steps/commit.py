"""Step 4, the last: commit a batch's offsets, now that every event of it is written or dead-lettered."""

from __future__ import annotations

from pipeline.steps.base import Commit, ConsumerStatus, Written


class CommitOffsets:
    """Commits through the driver (only its thread touches the KafkaConsumer) and counts the batch.

    Never refuses: a batch that got here is finished.
    """

    def __init__(self, commit: Commit, status: ConsumerStatus) -> None:
        self._commit = commit
        self._status = status

    def submit(self, item: Written) -> None:
        self._commit(item.offsets)
        self._status.rows_written += item.events
        self._status.dead_lettered += len(item.dead_letters)
        self._status.batches += 1

    def poll(self) -> None:
        pass

    def join(self, timeout_s: float) -> None:
        pass

    def terminate(self) -> None:
        pass
