"""Two `lookout scheduler` processes evaluating the same rules: SIGKILL of the one evaluating hands the rule
over within one interval, and the incident is notified once.

The schedulers get a PostgreSQL schema of their own (first on their search path), so the test session's
node (which evaluates every rule of the main database) is not a third scheduler here; each has its own
chDB path (one process per path).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.integration.conftest import eventually, run_cli
from tests.integration.receivers import Receiver, running_receiver
from warehouse import postgres

pytestmark = pytest.mark.integration

INTERVAL_S = 2


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def own_database(settings) -> Iterator[str]:
    """A schema of its own, first on the search path: the same migrations, tables no one else evaluates."""
    name = f"failover_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield f"{settings.postgres_dsn}?options=-csearch_path%3D{name}"
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


def last_evaluation(dsn: str, rule: str) -> tuple[str, float] | None:
    with postgres.connect(dsn) as conn:
        row = conn.execute(
            "SELECT s.evaluated_by, s.last_evaluated_at FROM alert_rule_state s JOIN alert_rules r ON r.id = s.rule_id "
            "WHERE r.name = %s",
            (rule,),
        ).fetchone()
    if row is None or row["last_evaluated_at"] is None:
        return None
    return row["evaluated_by"], row["last_evaluated_at"].timestamp()


def test_sigkill_of_the_evaluating_scheduler_hands_over_within_one_interval_without_duplicates(
    settings, own_database, receiver: Receiver, tmp_path: Path
):
    uid = uuid.uuid4().hex[:8]
    rule, path = f"failover-{uid}", f"/failover/{uid}"
    schedulers: dict[int, subprocess.Popen] = {}

    def env(index: int) -> dict[str, str]:
        return {
            "LOOKOUT_POSTGRES_DSN": own_database,
            "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{tmp_path / f'chdb-{index}'}",
            "LOOKOUT_ALERT_METRICS_URLS": "",
        }

    assert run_cli(settings, "migrate", env=env(0)).returncode == 0
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({
        "channels": [{"name": "hook", "type": "webhook", "url": receiver.url(path), "secret": "failover-secret-0000"}],
        "rules": [{"name": rule, "query": {"type": "security_events", "event_type": ["failed_login"]},
                   "threshold": 3, "comparator": ">=", "interval": f"{INTERVAL_S}s", "renotify": "0s",
                   "channels": ["hook"]}],
    }))  # fmt: skip
    applied = run_cli(settings, "rules", "apply", str(rules), env=env(0))
    assert applied.returncode == 0, applied.stderr
    try:
        for index in (1, 2):
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "scheduler"],
                env={**os.environ, **settings.as_env(), **env(index)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            schedulers[process.pid] = process
        with postgres.connect(own_database) as conn:
            for _ in range(4):
                conn.execute(
                    "INSERT INTO security_events (event_id, timestamp, service, event_type, severity, ip_address) "
                    "VALUES (%s, %s, 'auth', 'failed_login', 'medium', '198.51.100.7')",
                    (uuid.uuid4(), datetime.now(UTC)),
                )
            conn.commit()
        eventually(lambda: receiver.to(path), timeout_s=60)
        owner, _ = eventually(lambda: last_evaluation(own_database, rule), timeout_s=30)
        leader = int(owner.split(":")[1])
        schedulers[leader].send_signal(signal.SIGKILL)
        schedulers[leader].wait(10)
        killed_at = time.time()
        survivor = next(pid for pid in schedulers if pid != leader)

        def taken_over() -> float | None:
            found = last_evaluation(own_database, rule)
            return found[1] if found and int(found[0].split(":")[1]) == survivor and found[1] > killed_at else None

        took_over_at = eventually(taken_over, timeout_s=30)
        assert took_over_at - killed_at <= INTERVAL_S + 1.5, (
            f"handed over {took_over_at - killed_at:.1f}s after SIGKILL"
        )
        # The survivor keeps evaluating the firing incident for a few intervals, and sends nothing more.
        eventually(lambda: (last_evaluation(own_database, rule) or ("", 0))[1] > took_over_at + 3 * INTERVAL_S,
                   timeout_s=30)  # fmt: skip
        assert [r.json["kind"] for r in receiver.to(path)] == ["firing"]
    finally:
        for process in schedulers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
