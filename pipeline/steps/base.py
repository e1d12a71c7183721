"""What every step is (:class:`Step`) and what the steps hand each other.

The shape is Sentry arroyo's processing strategy: a step refuses what it cannot take yet by raising
:class:`MessageRejected`, and the refusal travels back to the driver, which pauses its partitions and
offers the same record again later. So nothing is buffered without limit, and a sink that is down
stops consumption instead of filling memory.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pipeline.batch import DeadLetter

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

# (topic, partition) -> the offset to commit (one past the last record written)
Offsets = Mapping[tuple[str, int], int]
Commit = Callable[[Offsets], None]


class MessageRejected(Exception):
    """Back-pressure: the step cannot take this now; offer it again after :meth:`wait`."""

    def __init__(self, busy: Future[Any] | None = None) -> None:
        super().__init__("the step is busy")
        self.busy = busy  # the task whose end frees the step, when there is one to wait for

    def wait(self, timeout_s: float) -> None:
        """Until the step may take more: its busy task is done, or ``timeout_s`` has passed."""
        if self.busy is not None:
            wait_for([self.busy], timeout=timeout_s)
        else:
            time.sleep(timeout_s)


class Step(Protocol[T_contra]):
    def submit(self, item: T_contra) -> None:
        """Take an item or raise :class:`MessageRejected`; the work may finish later (see :meth:`poll`)."""

    def poll(self) -> None:
        """Non-blocking housekeeping, called on every turn of the driver's loop: hand on finished work."""

    def join(self, timeout_s: float) -> None:
        """Take nothing more; finish and hand on what was submitted, then join the next step.

        Work not finished within ``timeout_s`` is given up after at most one more attempt, so it is
        never committed and is read again.
        """

    def terminate(self) -> None:
        """Give up all work now (the driver crashed) and release threads and connections."""


def offer(step: Step[T], item: T, deadline: float, clock: Callable[[], float] = time.monotonic) -> bool:
    """Submit ``item``, waiting out the step's refusals until ``deadline``; False if it was never taken.

    Tried at least once, even past the deadline.
    """
    while True:
        step.poll()
        try:
            step.submit(item)
            return True
        except MessageRejected as rejected:
            remaining = deadline - clock()
            if remaining <= 0:
                return False
            rejected.wait(min(0.1, remaining))


@dataclass(frozen=True)
class Polled:
    """A Kafka record as the driver hands it to the chain."""

    topic: str
    partition: int
    offset: int
    value: bytes
    events: int  # from the record's count header (lookout.records.events_in)


@dataclass(frozen=True)
class Written:
    """A batch that is in its tables, on its way to the dead-letter topic and then to the commit."""

    offsets: Offsets
    events: int  # events written
    dead_letters: list[DeadLetter]


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter (as in AWS's and Alertmanager's retries)."""

    base_s: float = 0.2
    cap_s: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** min(attempt, 20)))


RETRY = Backoff()


@dataclass
class ConsumerStatus:
    """What a consumer exports (pipeline/prometheus.py): counters, what it waits for, lag per partition.

    Written by the steps and the driver, read by the metrics endpoint from another thread: plain
    counters and a set, each updated in one bytecode-sized step.
    """

    name: str
    rows_written: int = 0
    dead_lettered: int = 0
    batches: int = 0
    last_error: str = ""
    retries: int = 0
    unavailable: set[str] = field(default_factory=set)  # "sink", "dead-letter topic": what consumption waits for
    lag: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> records behind

    @property
    def paused(self) -> bool:
        return bool(self.unavailable)

    def retried(self, error: str) -> None:
        """Count a failed attempt that will be retried."""
        self.last_error = error
        self.retries += 1

    def failed(self, what: str, error: str) -> bool:
        """Count a failed attempt at ``what``, which consumption now waits for; True when it was available until now."""
        self.retried(error)
        if what in self.unavailable:
            return False
        self.unavailable.add(what)
        return True

    def recovered(self, what: str) -> bool:
        """``what`` worked; True when it was unavailable until now."""
        if what not in self.unavailable:
            return False
        self.unavailable.discard(what)
        return True
