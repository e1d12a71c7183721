"""`lookout pipeline` with no --sink consumes for both sinks, as its --help says.

Found by the fault soak (bench/soak.py): without --sink the command died at start-up with a
TypeError (argparse leaves an ``append`` option None), so the documented default never ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

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

    pipeline = procs.start(["pipeline"], env, name="pipeline-both")

    def both_joined() -> bool:
        assert pipeline.alive(), procs.log_tails()
        return all(stable_members(lane, group_id(lane, sink)) == 1 for sink in SINKS)

    eventually(both_joined, timeout_s=60, interval_s=0.5)
    assert pipeline.terminate() == 0, procs.log_tails()
