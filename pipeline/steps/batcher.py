"""Step 1: records into batches of ``max_rows`` events, or whatever ``max_wait_s`` collected."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress

from pipeline.batch import Batch
from pipeline.steps.base import MessageRejected, Polled, Step, offer

log = logging.getLogger(__name__)


class BatchRecords:
    """Fills one batch while the next step works on the previous one.

    A batch is closed by :meth:`poll`, which the driver calls after offering a whole poll's records:
    so it overshoots ``max_rows`` by at most one poll, and big batches are what the sinks write
    fastest. A closed batch waits here until the next step takes it; meanwhile records are refused,
    so the driver pauses instead of letting a second batch grow.
    """

    def __init__(
        self, max_rows: int, max_wait_s: float, next_step: Step[Batch], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._next = next_step
        self._clock = clock
        self._filling: Batch | None = None
        self._full: Batch | None = None  # closed, not yet taken by the next step

    def submit(self, item: Polled) -> None:
        self._hand_on()  # refuses the record while a full batch waits
        if self._filling is None:
            self._filling = Batch(self._clock())
        self._filling.add(item.topic, item.partition, item.offset, item.value, item.events)

    def poll(self) -> None:
        self._next.poll()
        filling = self._filling
        if self._full is None and filling is not None:
            if filling.is_ready(self._clock(), self._max_rows, self._max_wait_s):
                self._full, self._filling = filling, None
        with suppress(MessageRejected):  # the batch waits; the next record will be refused
            self._hand_on()

    def _hand_on(self) -> None:
        if self._full is not None:
            self._next.submit(self._full)
            self._full = None

    def join(self, timeout_s: float) -> None:
        deadline = self._clock() + timeout_s
        for batch in (self._full, self._filling):
            if batch and not offer(self._next, batch, deadline, self._clock):
                log.warning("gave up a batch the writer could not take in time; it will be read again")
                break
        self._full = self._filling = None
        self._next.join(max(0.0, deadline - self._clock()))

    def terminate(self) -> None:
        self._full = self._filling = None
        self._next.terminate()
