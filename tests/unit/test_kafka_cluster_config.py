"""LOOKOUT_KAFKA_BROKERS: how settings, the local stack and topics describe a local KRaft cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.stack import Stack, StackError
from lookout.settings import Settings
from lookout.topics import min_insync_replicas


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_one_broker_is_the_default_and_keeps_unreplicated_topics(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOKOUT_HOME": str(tmp_path)})
    assert (settings.kafka_brokers, settings.kafka_bootstrap, settings.kafka_replication_factor) == (
        1,
        "127.0.0.1:9092",
        1,
    )
    stack = Stack.from_settings(settings)
    assert [b.name for b in stack.brokers] == ["kafka"]  # the directory a single broker always had
    config = properties(stack.kafka._server_properties())
    assert config["controller.quorum.voters"] == f"1@127.0.0.1:{stack.kafka.controller_port}"
    assert config["offsets.topic.replication.factor"] == config["min.insync.replicas"] == "1"


def test_three_brokers_listen_on_every_second_port_and_replicate_three_ways(tmp_path: Path) -> None:
    settings = Settings.from_env({"LOOKOUT_HOME": str(tmp_path), "LOOKOUT_KAFKA_BROKERS": "3"})
    assert settings.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert settings.kafka_replication_factor == 3

    stack = Stack.from_settings(settings)

    assert [(b.name, b.port, b.controller_port) for b in stack.brokers] == [
        ("kafka-1", 9092, 9093),
        ("kafka-2", 9094, 9095),
        ("kafka-3", 9096, 9097),
    ]
    assert len(stack.services) == 5
    for node_id, broker in enumerate(stack.brokers, 1):
        config = properties(broker._server_properties())
        assert config["node.id"] == str(node_id)
        assert config["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
        assert config["default.replication.factor"] == config["offsets.topic.replication.factor"] == "3"
        assert config["min.insync.replicas"] == config["transaction.state.log.min.isr"] == "2"
        assert broker.data_dir == stack.home / f"kafka-{node_id}"
    applied = stack.apply_to(Settings.from_env({"LOOKOUT_HOME": str(tmp_path)}))
    assert (applied.kafka_bootstrap, applied.kafka_brokers, applied.kafka_replication_factor) == (
        settings.kafka_bootstrap,
        3,
        3,
    )


def test_explicit_bootstrap_and_replication_are_kept(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LOOKOUT_HOME": str(tmp_path),
            "LOOKOUT_KAFKA_BROKERS": "3",
            "LOOKOUT_KAFKA_BOOTSTRAP": "127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292",
            "LOOKOUT_KAFKA_REPLICATION_FACTOR": "2",
        }
    )
    assert settings.kafka_replication_factor == 2
    ports = [(b.port, b.controller_port) for b in Stack.from_settings(settings).brokers]
    assert ports == [(19092, 19093), (19192, 19193), (19292, 19293)]


def test_a_bootstrap_that_does_not_list_every_broker_is_refused_naming_both_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"LOOKOUT_HOME": str(tmp_path), "LOOKOUT_KAFKA_BROKERS": "3", "LOOKOUT_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}
    )
    with pytest.raises(StackError, match="lists 1 broker.*LOOKOUT_KAFKA_BROKERS=3"):
        Stack.from_settings(settings)


def test_brokers_must_be_a_positive_number(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LOOKOUT_KAFKA_BROKERS"):
        Settings.from_env({"LOOKOUT_HOME": str(tmp_path), "LOOKOUT_KAFKA_BROKERS": "0"})


@pytest.mark.parametrize(("replicas", "in_sync"), [(1, 1), (2, 2), (3, 2), (5, 3)])
def test_min_insync_replicas_is_a_majority(replicas: int, in_sync: int) -> None:
    assert min_insync_replicas(replicas) == in_sync
