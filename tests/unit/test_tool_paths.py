"""ToolPaths: where the local stack finds PostgreSQL, the Kafka jars and Java."""

from pathlib import Path

from lookout.settings import ToolPaths


def test_set_paths_are_resolved_and_blank_ones_mean_the_usual_places() -> None:
    tools = ToolPaths.from_env({"LOOKOUT_PG_BIN": "/opt/pg/../pg/bin", "JAVA_HOME": "  "})
    assert tools == ToolPaths(pg_bin=Path("/opt/pg/bin"), kafka_libs=None, java_home=None)


def test_nothing_set_is_all_none() -> None:
    assert ToolPaths.from_env({}) == ToolPaths(pg_bin=None, kafka_libs=None, java_home=None)
