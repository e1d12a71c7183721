"""The per-worker budget of body bytes in flight (collector/inflight.py), with real threads."""

from __future__ import annotations

import threading
import time

import pytest

from collector.inflight import BodyBudget
from lookout.settings import Settings, SettingsError


def test_holds_up_to_the_capacity_then_refuses_after_waiting():
    budget = BodyBudget(100)
    assert budget.hold(60, 0) and budget.hold(40, 0)
    started = time.monotonic()
    assert not budget.hold(1, 0.05)
    assert time.monotonic() - started >= 0.05
    assert budget.held == 100  # a refusal holds nothing


def test_a_waiting_request_gets_the_room_another_releases():
    budget = BodyBudget(100)
    assert budget.hold(100, 0)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(budget.hold(50, 10)))
    waiter.start()
    deadline = time.monotonic() + 10
    while budget.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # polling for the waiter to block, not a fixed delay
    assert budget.waiting == 1 and budget.held == 100
    budget.release(100)
    waiter.join(10)
    assert got == [True] and budget.held == 50


def test_a_body_larger_than_the_budget_passes_alone():
    budget = BodyBudget(100)
    assert budget.hold(500, 0) and budget.held == 500
    assert not budget.hold(1, 0)
    budget.release(500)
    assert budget.held == 0 and budget.hold(1, 0)


def test_concurrent_holders_never_exceed_the_capacity_together():
    budget, peak, lock = BodyBudget(1000), [0], threading.Lock()

    def request() -> None:
        for _ in range(200):
            if budget.hold(300, 5):
                with lock:
                    peak[0] = max(peak[0], budget.held)
                budget.release(300)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert budget.held == 0 and 300 <= peak[0] <= 900


def test_the_budget_and_its_queue_time_are_settings():
    defaults = Settings.from_env({})
    assert (defaults.collector_body_bytes_in_flight, defaults.collector_body_queue_s) == (16 * 1024 * 1024, 1.0)
    chosen = Settings.from_env({"LOOKOUT_COLLECTOR_BODY_BYTES_IN_FLIGHT": "1048576",
                                "LOOKOUT_COLLECTOR_BODY_QUEUE_S": "0.25"})
    assert (chosen.collector_body_bytes_in_flight, chosen.collector_body_queue_s) == (1048576, 0.25)
    assert Settings.from_env(chosen.as_env()) == chosen
    for name in ("LOOKOUT_COLLECTOR_BODY_BYTES_IN_FLIGHT", "LOOKOUT_COLLECTOR_BODY_QUEUE_S"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: "0"})
