"""Alert query builders (parameterized SQL, one row per group key) and the platform-health metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from alerts.platform import total, value_now
from warehouse.queries.alert_queries import build

END = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
START = END - timedelta(minutes=5)
HOSTILE = "x'); DROP TABLE logs; --"


def test_log_count_reads_the_rollup_with_parameters_only():
    built = build("log_count", {"service": HOSTILE, "level": ["error", "fatal"]}, ["service"], START, END)
    assert built.database == "clickhouse"
    assert HOSTILE not in built.sql
    assert built.params == {"start": START, "end": END, "service": HOSTILE, "level": ["error", "fatal"]}
    assert "FROM logs_1m FINAL" in built.sql and "GROUP BY service" in built.sql
    assert "level IN {level:Array(String)}" in built.sql


def test_a_text_filter_reads_the_raw_logs_with_an_escaped_like_pattern():
    built = build("log_count", {"text": "100%_Done"}, [], START, END)
    assert "FROM logs FINAL" in built.sql and "logs_1m" not in built.sql
    assert built.params["pattern"] == "%100\\%\\_done%"
    assert "GROUP BY" not in built.sql


def test_api_queries_pick_the_quantile_and_drop_thin_windows():
    latency = build("api_latency", {"quantile": 0.99}, ["endpoint"], START, END)
    assert "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles)[4]" in latency.sql
    rate = build("api_error_rate", {"min_requests": 20}, [], START, END)
    assert "HAVING sum(requests) >= {min_requests:UInt64}" in rate.sql and rate.params["min_requests"] == 20


def test_heartbeat_looks_back_a_day_by_default_and_measures_from_the_end_of_the_last_minute():
    built = build("heartbeat", {"kind": "system_metric"}, ["service", "instance"], START, END)
    assert built.params["start"] == END - timedelta(days=1)
    assert "system_metrics_1m" in built.sql and "max(minute) + INTERVAL 1 MINUTE" in built.sql


def test_security_events_go_to_postgres_with_any_arrays_and_the_ip_as_text():
    built = build("security_events", {"severity": ["critical"], "event_type": [HOSTILE]}, ["ip_address"], START, END)
    assert built.database == "postgres"
    assert HOSTILE not in built.sql
    assert "event_type = ANY(%(event_type)s)" in built.sql and "ip_address IS NOT NULL" in built.sql
    assert built.sql.startswith("SELECT host(ip_address) AS ip_address, count(*) AS value")
    assert built.sql.endswith("GROUP BY 1")


def exposition(kind: type, name: str, labels: list[str], values: dict[tuple[str, ...], float]) -> str:
    """What a component's /metrics answers, rendered by prometheus_client itself."""
    registry = CollectorRegistry()
    metric = kind(name, "help", labels, registry=registry)
    for label_values, value in values.items():
        child = metric.labels(*label_values)
        child.inc(value) if kind is Counter else child.set(value)
    return generate_latest(registry).decode()


COLLECTOR = exposition(
    Counter, "lookout_collector_events_rejected_total", ["reason"], {("invalid",): 3, ("rate_limited",): 2}
)
PIPELINE = exposition(
    Gauge, "lookout_pipeline_consumer_lag", ["sink", "partition"], {("clickhouse", "0"): 40, ("postgres", "0"): 2}
)


def test_platform_totals_sum_every_exposition_and_ignore_created_timestamps():
    assert total([COLLECTOR, PIPELINE], "collector_rejected") == 5.0
    assert total([COLLECTOR, PIPELINE], "pipeline_lag") == 42.0
    assert total([COLLECTOR], "dead_letters") is None


def test_counters_become_increases_and_a_reset_counts_from_zero():
    value, memo = value_now("collector_rejected", 5.0, {})
    assert value is None and memo == {"collector_rejected": 5.0}
    value, memo = value_now("collector_rejected", 12.0, memo)
    assert value == 7.0
    assert value_now("collector_rejected", 3.0, memo)[0] == 3.0
    assert value_now("pipeline_lag", 42.0, {}) == (42.0, {})
