"""SIGTERM and SIGINT as a flag the main thread polls: how long-running commands learn to stop.

A signal handler runs in the main thread between two bytecodes, wherever that thread is. So it must not
take a lock the main thread may hold: ``threading.Event.set()`` does, and a second signal arriving while
``Event.wait()`` re-took its lock after the first one deadlocked ``lookout syslog``'s workers for good
(Ctrl-C or an orchestrator signals the whole process group, and the parent's own SIGTERM follows). The
handler here only assigns; the waiter sleeps in short steps and looks.
"""

from __future__ import annotations

import signal
import time

_POLL_S = 0.2  # how late a stop may be noticed


class StopSignals:
    """Installs SIGTERM and SIGINT handlers in the calling (main) thread; :meth:`wait` until one arrives."""

    def __init__(self) -> None:
        self.received: int | None = None
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum  # an assignment only: see the module's docstring

    def wait(self, timeout_s: float | None = None) -> bool:
        """True once a signal has arrived; False when ``timeout_s`` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.received is None:
            step = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if step <= 0:
                return False
            time.sleep(step)
        return True
