"""`lookout up --demo`, the README's run command, as a user runs it: demo events are searchable within 10 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import requests

from app.stack.base import find_free_port

pytestmark = pytest.mark.integration


def test_lookout_up_demo_serves_demo_logs_within_10_seconds(settings, tmp_path):
    home = tmp_path / "home"
    collector_port, dashboard_port = find_free_port(), find_free_port()
    env = {
        **os.environ,
        **settings.as_env(),
        "LOOKOUT_HOME": str(home),
        "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{home / 'chdb'}",  # its own engine: this process holds the session's
        "LOOKOUT_KAFKA_TOPIC_PREFIX": f"up{uuid.uuid4().hex[:6]}.",  # its own topics and consumer groups
        "LOOKOUT_COLLECTOR_PORT": str(collector_port),
        "LOOKOUT_DASHBOARD_PORT": str(dashboard_port),
        "LOOKOUT_COLLECTOR_WORKERS": "2",
    }
    output = tmp_path / "up.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--demo", "--no-stack"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while b"Lookout is up." not in output.read_bytes():
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        up_at = time.monotonic()
        credentials = json.loads((home / "credentials.json").read_text())
        assert oct((home / "credentials.json").stat().st_mode & 0o777) == "0o600"
        assert credentials["query_api_key"] in output.read_text()

        logs: list = []
        while time.monotonic() - up_at < 10 and not logs:
            r = requests.get(
                f"http://127.0.0.1:{dashboard_port}/api/v1/logs",
                headers={"Authorization": f"Bearer {credentials['query_api_key']}"},
                timeout=5,
            )
            assert r.status_code == 200, r.text
            logs = r.json()["logs"]
            time.sleep(0.25)
        assert logs, f"no demo logs within 10 s of start-up:\n{output.read_text()}"
        assert {row["service"] for row in logs} <= {"api-gateway", "payments", "auth", "chain-indexer"}
        # Under gunicorn the counters of every worker process are summed on /metrics.
        metrics = requests.get(f"http://127.0.0.1:{collector_port}/metrics", timeout=5).text
        assert 'lookout_collector_events_accepted_total{kind="log"}' in metrics
        ready = requests.get(f"http://127.0.0.1:{collector_port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output.read_text()
    # SIGTERM stopped the gunicorn collector too: nothing listens on its port any more.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{collector_port}/healthz", timeout=2)
