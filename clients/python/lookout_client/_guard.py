"""Marks code whose log records must not be shipped, so the client never feeds on its own output."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

INTERNAL_LOGGER = "lookout_client"

_state = threading.local()


def mark_internal_thread() -> None:
    """Called by the worker thread: whatever it (or a library it calls) logs stays local."""
    _state.internal = True


def in_internal_code() -> bool:
    return getattr(_state, "internal", False)


@contextmanager
def internal() -> Iterator[None]:
    """Anything logged inside this block on the current thread stays local."""
    previous = in_internal_code()
    _state.internal = True
    try:
        yield
    finally:
        _state.internal = previous
