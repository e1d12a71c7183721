"""The scheduler's Redis leader lock: one node runs a periodic job at a time."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from alerts.scheduler import LeaderLock

pytestmark = pytest.mark.integration


def test_only_one_node_runs_a_job_at_a_time_and_the_lock_is_released(settings):
    client = redis.Redis.from_url(settings.redis_url)
    node_a, node_b = LeaderLock(client, "node-a"), LeaderLock(client, "node-b")
    inside, leave = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow_job() -> None:
        ran.append("a")
        inside.set()
        leave.wait(10)

    holder = threading.Thread(target=node_a.run_if_leader, args=("test-job", 30, slow_job))
    holder.start()
    assert inside.wait(10)
    assert node_b.run_if_leader("test-job", 30, lambda: ran.append("b")) is False
    leave.set()
    holder.join()
    assert node_b.run_if_leader("test-job", 30, lambda: ran.append("b")) is True
    assert ran == ["a", "b"]
    assert client.get("lookout:leader:test-job") is None


def test_a_lock_held_by_a_dead_node_expires(settings):
    client = redis.Redis.from_url(settings.redis_url)
    client.set("lookout:leader:orphaned", "dead-node", ex=1)
    node = LeaderLock(client, "alive")
    assert node.run_if_leader("orphaned", 30, lambda: None) is False
    client.pexpire("lookout:leader:orphaned", 1)

    time.sleep(0.05)
    assert node.run_if_leader("orphaned", 30, lambda: None) is True
