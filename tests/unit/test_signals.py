"""StopSignals: the flag long-running commands poll, set by SIGTERM or SIGINT however close together they come."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from app.signals import StopSignals


@pytest.fixture
def stop() -> Iterator[StopSignals]:
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        yield StopSignals()
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


def test_wait_times_out_without_a_signal(stop: StopSignals) -> None:
    started = time.monotonic()
    assert stop.wait(0.05) is False
    assert time.monotonic() - started >= 0.05
    assert stop.received is None


def test_signals_back_to_back_end_the_wait(stop: StopSignals) -> None:
    # What a terminal's Ctrl-C and a parent's SIGTERM do to a worker: two signals, one right after the other.
    def burst() -> None:
        time.sleep(0.05)
        for _ in range(20):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=burst)
    sender.start()
    assert stop.wait(10) is True
    sender.join()
    assert stop.received in (signal.SIGINT, signal.SIGTERM)
