"""Step 3: a written batch's refused events to the dead-letter topic, acknowledged before the commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from pipeline.batch import DeadLetter
from pipeline.dlq import DeadLetterUnavailable
from pipeline.steps.base import RETRY, Backoff, ConsumerStatus, MessageRejected, Step, Written

log = logging.getLogger(__name__)


class DeadLetterSender(Protocol):
    """pipeline.dlq.DeadLetterQueue: sends and waits for the broker's acknowledgements."""

    def send(self, letters: list[DeadLetter]) -> None: ...

    def close(self) -> None: ...


class SendDeadLetters:
    """Holds a batch until its dead letters are acknowledged, retrying with backoff on later polls.

    While one waits, the next batch is refused. The next step must take what it is given (the
    commit step always does), since letters already acknowledged are not sent twice.
    """

    def __init__(
        self,
        queue: DeadLetterSender,
        status: ConsumerStatus,
        next_step: Step[Written],
        *,
        backoff: Backoff = RETRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._status = status
        self._next = next_step
        self._backoff = backoff
        self._clock = clock
        self._waiting: Written | None = None
        self._attempt = 0
        self._retry_at = 0.0

    def submit(self, item: Written) -> None:
        if self._waiting is not None:
            raise MessageRejected()
        self._waiting = item
        self._send()

    def poll(self) -> None:
        if self._waiting is not None and self._clock() >= self._retry_at:
            self._send()
        self._next.poll()

    def _send(self) -> None:
        assert self._waiting is not None
        try:
            self._queue.send(self._waiting.dead_letters)
        except DeadLetterUnavailable as exc:
            if self._status.failed("dead-letter topic", str(exc)):
                log.warning(
                    "dead-letter topic unavailable, pausing consumption",
                    extra={"sink": self._status.name, "error": str(exc)},
                )
            self._retry_at = self._clock() + self._backoff.delay(self._attempt)
            self._attempt += 1
            return
        if self._status.recovered("dead-letter topic"):
            log.info("dead-letter topic is back, consuming again", extra={"sink": self._status.name})
        written, self._waiting, self._attempt = self._waiting, None, 0
        self._next.submit(written)

    def join(self, timeout_s: float) -> None:
        deadline = self._clock() + timeout_s
        while self._waiting is not None and self._clock() < deadline:
            time.sleep(max(0.0, min(self._retry_at, deadline) - self._clock()))
            self._send()
        if self._waiting is not None:
            log.warning(
                "stopped while the dead-letter topic was down; the batch will be read again",
                extra={"sink": self._status.name},
            )
            self._waiting = None
        self._queue.close()
        self._next.join(max(0.0, deadline - self._clock()))

    def terminate(self) -> None:
        self._waiting = None
        self._queue.close()
        self._next.terminate()
