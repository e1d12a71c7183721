"""A worker's budget of request-body bytes in memory at once, shared by all its requests. Pure: no I/O.

A request holds, until it ends, the bytes of its body as they arrive and, once inflated, its decompressed
body: what its parsing and validation then multiply. Past the budget a request waits briefly for room
and is otherwise refused (503 with Retry-After), so N concurrent large bodies cannot take a worker's
memory past a bound however many connections a gevent worker accepts. Bytes are counted when received,
not when declared: a slow client holds only what it has sent, so slow clients cannot fill the budget
and starve the normal ones (docs/benchmarks.md, "Abuse").

A request that finds the budget empty is always let through, so one body larger than the whole budget
still gets its own turn instead of waiting forever.
"""

from __future__ import annotations

import threading
import time


class BodyBudget:
    """Bytes held by the bodies of the requests in flight; thread- and greenlet-safe (under gevent's
    patched ``threading`` a wait yields to the other greenlets)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._held = 0
        self._waiting = 0
        self._room = threading.Condition()

    @property
    def held(self) -> int:
        return self._held

    @property
    def waiting(self) -> int:
        """Requests waiting for room now."""
        return self._waiting

    def hold(self, amount: int, wait_s: float) -> bool:
        """Add ``amount`` bytes, waiting up to ``wait_s`` for room; False (nothing held) when none came."""
        deadline = time.monotonic() + wait_s
        with self._room:
            while self._held and self._held + amount > self.capacity:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._waiting += 1
                try:
                    self._room.wait(remaining)
                finally:
                    self._waiting -= 1
            self._held += amount
            return True

    def release(self, amount: int) -> None:
        if amount:
            with self._room:
                self._held -= amount
                self._room.notify_all()
