"""Tells the application about delivery problems without ever raising into it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ._guard import INTERNAL_LOGGER

ErrorCallback = Callable[[Exception], object]

# Without logging configured, the logging module's last-resort handler prints warnings to stderr.
_log = logging.getLogger(INTERNAL_LOGGER)


class Reporter:
    """Reports each kind of problem once until it is resolved, so an outage is one message, not thousands."""

    def __init__(self, on_error: ErrorCallback | None) -> None:
        self._on_error = on_error
        self._open: set[str] = set()
        self._lock = threading.Lock()

    def once(self, problem: str, error: Exception) -> None:
        with self._lock:
            if problem in self._open:
                return
            self._open.add(problem)
        if self._on_error is None:
            _log.warning("lookout client: %s", error)
            return
        try:
            self._on_error(error)
        except Exception:
            _log.exception("lookout client: the on_error callback failed while reporting: %s", error)

    def resolved(self, problem: str) -> None:
        """Re-arm a problem so that its next occurrence (a new outage) is reported again."""
        with self._lock:
            self._open.discard(problem)
