"""Which topics each sink's consumer reads, and a clear error for a sink that does not exist."""

from __future__ import annotations

import pytest

from lookout.settings import Settings
from pipeline.runner import build_consumers, sink_consumer


def test_each_sink_consumes_the_topics_of_its_own_database():
    settings = Settings.from_env({"LOOKOUT_KAFKA_TOPIC_PREFIX": "t."})
    clickhouse, postgres = build_consumers(settings)
    assert (clickhouse.name, sorted(clickhouse.topics)) == (
        "clickhouse",
        ["t.api_metric", "t.blockchain_event", "t.log", "t.system_metric"],
    )
    assert (postgres.name, sorted(postgres.topics)) == ("postgres", ["t.admin_audit", "t.security_event"])
    assert clickhouse.status.name == "clickhouse" and not clickhouse.status.paused


def test_an_unknown_sink_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown sink 'mysql': choose from clickhouse, postgres"):
        sink_consumer(Settings.from_env({}), "mysql")
