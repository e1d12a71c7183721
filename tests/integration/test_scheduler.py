"""The scheduler: its Redis leader lock (one node runs a periodic job at a time) and `lookout scheduler`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from app.scheduler import LeaderLock
from tests.integration.conftest import run_cli

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


ROLLED_UP = """
import sys, time, uuid
import orjson
from pipeline.sinks import ClickHouseSink
from warehouse import clickhouse
from warehouse.tables import TABLES
dsn, action = sys.argv[1], sys.argv[2]
if action == "write":
    now = int(time.time() * 1000)
    sink = ClickHouseSink(dsn, 30, {})
    events = [{"kind": "log", "event_id": str(uuid.uuid4()), "ts": now, "service": "sched", "level": "info"}] * 5
    sink.write(TABLES["log"], [orjson.dumps({**e, "event_id": str(uuid.uuid4())}) for e in events], "")
else:
    print(clickhouse.connect(dsn).query("SELECT sum(events) FROM logs_1m FINAL").result_rows[0][0])
"""


def test_lookout_scheduler_runs_the_rollup_job_and_stops_on_sigterm(settings, tmp_path):
    """Scaled mode's `lookout scheduler`, on a warehouse of its own (chDB: one process per data path)."""
    env = {**os.environ, **settings.as_env(), "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{tmp_path / 'chdb'}"}
    env["LOOKOUT_ROLLUP_INTERVAL_S"] = "1"
    dsn = env["LOOKOUT_CLICKHOUSE_DSN"]

    def python(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", ROLLED_UP, dsn, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    migrated = run_cli(settings, "migrate", env={"LOOKOUT_CLICKHOUSE_DSN": dsn})
    assert migrated.returncode == 0, migrated.stderr
    python("write")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        time.sleep(14)  # the job takes minutes marked 10 s ago or more, every second
    finally:
        scheduler.send_signal(signal.SIGTERM)
        output = scheduler.communicate(timeout=30)[0].decode()
    assert scheduler.returncode == 0, output
    running = next(line for line in output.splitlines() if "scheduler running: " in line)
    assert set(running.split("scheduler running: ")[1].split(", ")) == {
        "rollups",
        "retention",
        "alerts",
        "alert-delivery",
    }, output
    assert python("read") == "5", output
    # Retention's first run is due at start: it once missed its one second of grace and waited an hour.
    assert "was missed" not in output, output
