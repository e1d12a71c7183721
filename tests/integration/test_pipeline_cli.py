"""`lookout pipeline` with no --sink consumes for both sinks, as its --help says, and serves its metrics.

Found by the fault soak (bench/soak.py): without --sink the command died at start-up with a
TypeError (argparse leaves an ``append`` option None), so the documented default never ran.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from app.stack.base import find_free_port
from lookout.settings import Settings
from lookout.topics import ensure_topics
from pipeline.consumer import group_id
from pipeline.runner import SINKS
from tests.integration.conftest import eventually
from tests.integration.procs import Processes

pytestmark = pytest.mark.integration


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.close()


def stable_members(settings: Settings, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","), client_id="pipeline-cli-tests")
    try:
        described = admin.describe_groups([group])[group]
    except KafkaError:
        return 0
    finally:
        admin.close()
    return len(described["members"]) if described["group_state"] == "Stable" else 0


def test_pipeline_without_sink_option_runs_both_sinks(settings: Settings, procs: Processes, tmp_path: Path) -> None:
    lane = settings.with_(kafka_topic_prefix=f"p{uuid.uuid4().hex[:12]}.")
    ensure_topics(lane)
    env = {
        **lane.as_env(),
        "LOOKOUT_LOG_JSON": "false",
        # Its own chDB: the session's belongs to the test process.
        "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{tmp_path / 'chdb'}",
    }
    migrated = procs.run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    port = find_free_port()
    pipeline = procs.start(["pipeline", "--metrics-port", str(port)], env, name="pipeline-both")

    def both_joined() -> bool:
        assert pipeline.alive(), procs.log_tails()
        return all(stable_members(lane, group_id(lane, sink)) == 1 for sink in SINKS)

    eventually(both_joined, timeout_s=60, interval_s=0.5)
    # Scaled mode's pipeline is scraped on its own port: lag per topic for both sinks, dead letters.
    # (Lag per topic and partition appears once a consumer has fetched; this pipeline is given no events.)
    expected = ["# TYPE lookout_pipeline_consumer_lag gauge",
                'lookout_pipeline_sink_paused{sink="clickhouse"} 0.0',
                'lookout_pipeline_sink_paused{sink="postgres"} 0.0',
                'lookout_pipeline_dead_letters_total{sink="clickhouse"} 0.0',
                'lookout_pipeline_dead_letters_total{sink="postgres"} 0.0']  # fmt: skip

    def scraped() -> str | None:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        return text if all(line in text for line in expected) else None

    eventually(scraped, timeout_s=30, interval_s=0.5)
    assert pipeline.terminate() == 0, procs.log_tails()


def test_pipeline_names_a_metrics_port_it_cannot_use(settings: Settings, procs: Processes, tmp_path: Path) -> None:
    env = {**settings.as_env(), "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{tmp_path / 'chdb'}"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = procs.run(["pipeline", "--metrics-port", str(port)], env)
    assert done.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
