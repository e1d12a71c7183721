"""The worker behind Client: batches queued events, posts them, retries, spools and replays.

Application threads only append to an in-memory queue, under a lock held for
microseconds. One daemon thread owns everything slow (the network and the
spool), so neither needs a lock. Its rules:

* While the spool holds anything it is the only way to the network: new
  batches are appended behind it and its head is what gets sent, so events
  keep their order across an outage and a restart.
* A batch that fails in a retryable way is retried in memory with full-jitter
  backoff, the collector's Retry-After being the floor. After
  ``retries_before_spool`` retries, or once the queue is half full, whatever
  is in memory moves to the spool.
* A refused API key (401/403) is a failure like any other outage, except
  that it is reported at once: the batch is kept, retried with backoff and
  spooled, so a deploy with a wrong key loses nothing it buffered.
* Without a spool the failing batch is held and retried until the collector
  answers; meanwhile the bounded queue drops the newest events.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from ._guard import mark_internal_thread
from ._report import Reporter
from ._spool import Spool, SpoolError
from ._transport import AuthError, DeliveryError, RejectedError, RetryableError, TooLargeError, Transport

_CLOSE_GRACE = 0.1


@dataclass(frozen=True)
class ClientStats:
    """What has become of the events given to a Client so far (a snapshot)."""

    sent: int = 0  # accepted by the collector, replayed ones included
    rejected: int = 0  # refused by the collector as invalid; never retried
    dropped: int = 0  # discarded by the client: queue or spool full, not encodable, after close
    spooled: int = 0  # written to the spool file
    replayed: int = 0  # accepted by the collector from the spool
    retries: int = 0  # POSTs that failed in a retryable way and so were, or will be, tried again


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``attempt`` (counting from 0)."""
    # Full jitter: app servers that failed together must not come back together and knock the recovering
    # collector over again. Retry-After is the collector's own word, so it can only lengthen the wait.
    ceiling = min(cap, base * 2 ** min(attempt, 32))
    return max(random.uniform(0.0, ceiling), retry_after or 0.0)


@dataclass
class _Work:
    """The batch being delivered: retried as a whole, halved in place when the collector finds it too large."""

    chunks: list[list[str]]
    from_spool: bool
    failures: int = 0


class Batcher:
    """The queue and the worker thread; Client is its only user."""

    def __init__(
        self,
        transport: Transport,
        spool: Spool | None,
        reporter: Reporter,
        *,
        batch_size: int,
        flush_interval: float,
        max_queue: int,
        backoff_base: float,
        backoff_cap: float,
        retries_before_spool: int,
    ) -> None:
        self._transport = transport
        self._spool = spool
        self._reporter = reporter
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        # Spooling at half full leaves the other half for what arrives while the worker is blocked in a POST.
        self._high_water = max(1, max_queue // 2)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retries_before_spool = retries_before_spool

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the worker waits here for something to do
        self._settled = threading.Condition(self._lock)  # flush() waits here for events to be settled
        self._queue: deque[str] = deque()
        # Counts of queued events; as the queue is FIFO, resolved <= taken <= enqueued and flush() can wait
        # for "everything enqueued before me" by number.
        self._enqueued = 0
        self._taken = 0
        self._resolved = 0
        self._push_upto = 0  # events up to this count go out without waiting for a full batch
        # When the oldest queued event arrived. Kept when a batch is taken and some events remain, so those
        # may leave early, never late.
        self._first_at = 0.0
        self._closing = False
        self._deadline = 0.0
        self._gave_up = False  # close() had to drop queued events: out of time, or no room in the spool
        self._counts: Counter[str] = Counter()

        # Touched by the worker thread only.
        self._current: _Work | None = None
        self._not_before = 0.0
        self._attempt = 0

        self._thread = threading.Thread(target=self._run, name="lookout-client", daemon=True)
        self._thread.start()

    # --- called from application threads ---------------------------------------------------------------

    @property
    def full(self) -> bool:
        # Read without the lock: a cheap early exit before encoding; offer() checks again under the lock.
        return len(self._queue) >= self._max_queue

    def offer(self, encoded: str, urgent: bool) -> None:
        with self._lock:
            if self._closing or len(self._queue) >= self._max_queue:
                # Dropping the newest keeps the queue one unbroken run of the oldest events, so the lead-up
                # to a problem survives the flood that follows it.
                self._counts["dropped"] += 1
                return
            self._queue.append(encoded)
            self._enqueued += 1
            size = len(self._queue)
            if size == 1:
                self._first_at = time.monotonic()
            if urgent:
                self._push_upto = self._enqueued
            # Wake the worker only when this event can change its decision.
            if urgent or size in (1, self._batch_size, self._high_water):
                self._wake.notify()

    def discard(self) -> None:
        with self._lock:
            self._counts["dropped"] += 1

    def flush(self, timeout: float) -> bool:
        with self._lock:
            target = self._enqueued
            self._push_upto = max(self._push_upto, target)
            self._wake.notify()
            return self._settled.wait_for(lambda: self._resolved >= target, timeout)

    def close(self, timeout: float) -> bool:
        with self._lock:
            if not self._closing:
                self._closing = True
                self._deadline = time.monotonic() + timeout
                self._wake.notify()
        if threading.current_thread() is not self._thread:
            # The worker gives up at the deadline; the grace lets it record what it had to drop.
            self._thread.join(timeout + _CLOSE_GRACE)
        with self._lock:
            return self._resolved >= self._enqueued and not self._gave_up

    def stats(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._counts)

    # --- the worker thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        mark_internal_thread()
        try:
            while (action := self._next_action()) is not None:
                try:
                    action()
                except Exception as exc:
                    # A failing disk or a bug must not end the only thread that delivers: say so, back off,
                    # and try again.
                    self._reporter.once("internal", exc)
                    self._schedule_retry(None)
        finally:
            self._transport.close()
            if self._spool is not None:
                self._spool.close()

    def _next_action(self) -> Callable[[], None] | None:
        """Wait until there is something to do and return it; None when the worker should exit."""
        with self._lock:
            while True:
                now = time.monotonic()
                backing_off = now < self._not_before
                spool_pending = self._spool is not None and self._spool.pending
                holding = bool(self._queue) or (self._current is not None and not self._current.from_spool)
                if self._closing:
                    if not holding:
                        return None
                    # Out of time, or stuck behind the spool or a backoff: put the rest on disk if there is
                    # a spool (the next start replays it) instead of making the app's exit wait.
                    if (
                        now >= self._deadline
                        or spool_pending
                        or (backing_off and (self._spool is not None or self._not_before >= self._deadline))
                    ):
                        return self._evacuate
                ready = bool(self._queue) and (
                    self._closing
                    or len(self._queue) >= self._batch_size
                    or self._taken < self._push_upto
                    or now >= self._first_at + self._flush_interval
                )
                if self._spool is not None and (len(self._queue) >= self._high_water or (spool_pending and ready)):
                    return self._evacuate
                if not backing_off and (spool_pending or self._current is not None or ready):
                    return self._deliver
                wake_at = [
                    moment
                    for moment in (
                        self._not_before,
                        self._first_at + self._flush_interval if self._queue else 0.0,
                        self._deadline if self._closing else 0.0,
                    )
                    if moment > now
                ]
                self._wake.wait(min(wake_at) - now if wake_at else None)

    def _deliver(self) -> None:
        work = self._current or self._next_work()
        if work is None:
            return
        self._current = work
        chunk = work.chunks[0]
        try:
            ack = self._transport.post(chunk)
        except RetryableError as exc:
            self._retry_later(work, exc)
            return
        except DeliveryError as exc:
            self._answered()
            self._refused(work, exc)
            return
        self._answered()
        if ack.rejected:
            first = ack.errors[0] if ack.errors else "not given"
            self._reporter.once(
                "rejected",
                RejectedError(f"collector rejected {ack.rejected} of {len(chunk)} events (first: {first}); dropped"),
            )
        self._settle(work, sent=ack.accepted, rejected=ack.rejected)

    def _next_work(self) -> _Work | None:
        if self._spool is not None and self._spool.pending:
            batch = self._spool.peek()
            return None if batch is None else _Work([batch], from_spool=True)
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            self._taken += len(batch)
        return _Work([batch], from_spool=False)

    def _refused(self, work: _Work, error: DeliveryError) -> None:
        chunk = work.chunks[0]
        if isinstance(error, TooLargeError) and len(chunk) > 1:
            # Each half settles on its own, so a later failure never resends a half already acknowledged.
            half = len(chunk) // 2
            work.chunks[0:1] = [chunk[:half], chunk[half:]]
        else:
            self._reporter.once("rejected", error)
            self._settle(work, rejected=len(chunk))

    def _retry_later(self, work: _Work, error: RetryableError) -> None:
        work.failures += 1
        with self._lock:
            self._counts["retries"] += 1
        self._schedule_retry(error.retry_after)
        exhausted = work.failures > self._retries_before_spool
        if isinstance(error, AuthError):
            # A wrong key will not fix itself in a few retries: say so at once, not after an outage's patience.
            self._reporter.once("auth", error)
        elif exhausted:
            self._reporter.once("unreachable", error)
        if exhausted and not work.from_spool and self._spool is not None:
            self._evacuate()

    def _schedule_retry(self, retry_after: float | None) -> None:
        delay = backoff_delay(self._attempt, self._backoff_base, self._backoff_cap, retry_after)
        self._not_before = time.monotonic() + delay
        self._attempt += 1

    def _answered(self) -> None:
        """The collector is reachable and took the key: the next failure starts a fresh backoff and is reported."""
        self._attempt = 0
        self._not_before = 0.0
        self._reporter.resolved("unreachable")
        self._reporter.resolved("auth")

    def _settle(self, work: _Work, *, sent: int = 0, rejected: int = 0, dropped: int = 0) -> None:
        chunk = work.chunks.pop(0)
        with self._lock:
            self._counts.update(sent=sent, rejected=rejected, dropped=dropped)
            if work.from_spool:
                self._counts["replayed"] += sent
            else:
                self._resolved += len(chunk)
                self._settled.notify_all()
        if not work.chunks:
            self._current = None
            if self._spool is not None and work.from_spool:
                self._spool.advance()

    def _evacuate(self) -> None:
        """Move everything held in memory behind the spool, oldest first (or drop it if there is no spool)."""
        batches: list[list[str]] = []
        if self._current is not None and not self._current.from_spool:
            batches.append([event for chunk in self._current.chunks for event in chunk])
            self._current = None
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            self._taken += len(queued)
        batches += [queued[i : i + self._batch_size] for i in range(0, len(queued), self._batch_size)]
        for batch in batches:
            spooled = self._spool_batch(batch)
            with self._lock:
                self._counts["spooled" if spooled else "dropped"] += len(batch)
                self._resolved += len(batch)
                self._gave_up |= self._closing and not spooled
                self._settled.notify_all()

    def _spool_batch(self, batch: list[str]) -> bool:
        if self._spool is None:
            return False
        try:
            if self._spool.append(batch):
                return True
            self._reporter.once("spool full", SpoolError("the spool is full (max_spool_bytes); dropping events"))
        except (OSError, SpoolError) as exc:
            self._reporter.once("spool write", exc)
        return False
