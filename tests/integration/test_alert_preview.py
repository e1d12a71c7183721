"""Two ways of answering many rules with few queries give what each rule's own query answers, checked for every
query type on rows written to the real ClickHouse (chDB) and PostgreSQL: the rule preview's one query for every
step, and the scheduler's shared scans (one per rollup and window in a round)."""

from __future__ import annotations

import time
import uuid

import pytest

from alerts.evaluation import ScanCache, run_query
from alerts.preview import history, steps
from alerts.rules import parse_rule
from warehouse import clickhouse, postgres
from warehouse.queries.alert_queries import scan_key

pytestmark = pytest.mark.integration


def load(settings, service: str) -> None:
    """Two hours of rows, one every 7 s, with a pattern that changes over time (so steps differ)."""
    client = clickhouse.connect(settings.clickhouse_dsn)
    ts = "now64(3) - toIntervalMillisecond(number * 7000)"
    client.command(
        "INSERT INTO logs (event_id, timestamp, service, instance, level, message, retention_days) "
        f"SELECT generateUUIDv4(), {ts}, {{s:String}}, concat('i-', toString(number % 3)), "
        "['info', 'error', 'warn'][number % 3 + 1], concat('request ', toString(number % 11)), 30 "
        "FROM numbers(1000) WHERE number % 97 < 80",
        parameters={"s": service},
    )
    client.command(
        "INSERT INTO api_metrics (event_id, timestamp, service, instance, endpoint, method, status_code, "
        "response_time_ms, cache_hit, retention_days) "
        f"SELECT generateUUIDv4(), {ts}, {{s:String}}, 'i-1', concat('/e', toString(number % 2)), 'GET', "
        "if(number % 13 = 0 OR intDiv(number, 200) = 2, 500, 200), (number * 37) % 900, false, 30 FROM numbers(1000)",
        parameters={"s": service},
    )
    client.command(
        "INSERT INTO system_metrics (event_id, timestamp, service, instance, metric_name, value, retention_days) "
        f"SELECT generateUUIDv4(), {ts}, {{s:String}}, concat('i-', toString(number % 2)), 'cpu_percent', "
        "(number * 7) % 100, 30 FROM numbers(1000)",
        parameters={"s": service},
    )
    client.close()
    with postgres.connect(settings.postgres_dsn) as conn:
        conn.execute(
            "INSERT INTO security_events (event_id, timestamp, service, event_type, severity, ip_address) "
            "SELECT gen_random_uuid(), now() - n * interval '11 seconds', %(s)s, 'failed_login', "
            "(ARRAY['low', 'critical'])[n %% 2 + 1], ('10.0.0.' || (n %% 3))::inet FROM generate_series(1, 600) n",
            {"s": service},
        )
        conn.commit()


RULES = [
    {"query": {"type": "log_count", "level": ["error", "warn"]}, "group_by": ["level"]},
    {"query": {"type": "log_count"}},
    {"query": {"type": "log_count", "text": "request 7"}},
    {"query": {"type": "api_error_rate"}, "group_by": ["endpoint"]},
    {"query": {"type": "api_latency", "quantile": 0.95}},
    {"query": {"type": "system_metric", "metric_name": "cpu_percent", "aggregate": "max"}, "group_by": ["instance"]},
    {"query": {"type": "heartbeat", "kind": "log", "lookback_s": 3600}, "group_by": ["service"]},
    {"query": {"type": "security_events", "severity": ["critical"]}, "group_by": ["ip_address"]},
    {"query": {"type": "security_events"}},
]


def same(got, want, kind: str, at: float) -> None:
    assert got.error is None and want.error is None, (got.error, want.error)
    tolerance = 0.02 if kind == "api_latency" else 1e-9  # t-digests merged in another order
    got_values = {tuple(sorted(s.key.items())): s.value for s in got.samples}
    want_values = {tuple(sorted(s.key.items())): s.value for s in want.samples}
    assert got_values.keys() == want_values.keys(), at
    for key, value in want_values.items():
        assert got_values[key] == pytest.approx(value, rel=tolerance, abs=1e-9), (at, key)


def shape_id(shape: dict) -> str:
    params = "-".join(k for k in shape["query"] if k != "type")
    return "-".join(filter(None, [shape["query"]["type"], params, *shape.get("group_by", [])]))


@pytest.mark.parametrize("shape", RULES, ids=shape_id)
def test_one_query_for_every_step_answers_as_the_scheduler_would_at_each(settings, shape):
    service = f"preview-{uuid.uuid4().hex[:8]}"
    load(settings, service)
    query = {**shape["query"], "service": service}
    rule = parse_rule({"name": "preview", "threshold": 1, "window": "5m", **shape, "query": query}, "test", 0)
    # The last 15 steps of a day's preview (the first see no rows: the data covers 2 h), then now.
    times = steps(rule, "24h", time.time())[-16:]
    client = clickhouse.connect(settings.clickhouse_dsn)
    with postgres.connect(settings.postgres_dsn) as conn:
        replayed = history(rule, times, client, conn)
        one_by_one = [(t, run_query(rule, t, client, conn)) for t in times]
    client.close()
    assert [t for t, _ in replayed] == times
    assert sum(len(r.samples) for _, r in replayed) > 0
    for (at, got), (_, want) in zip(replayed, one_by_one, strict=True):
        same(got, want, rule.query.type, at)


SHARED = [
    {"query": {"type": "log_count", "level": ["error", "warn"]}, "group_by": ["level"]},
    {"query": {"type": "log_count", "level": ["error"]}, "group_by": ["service"]},
    {"query": {"type": "log_count", "level": ["fatal"]}},
    {"query": {"type": "api_error_rate", "min_requests": 10}, "group_by": ["endpoint"]},
    {"query": {"type": "api_error_rate", "endpoint": "/e1"}},
    {"query": {"type": "api_latency", "quantile": 0.95}},
    {"query": {"type": "api_latency", "quantile": 0.5}, "group_by": ["endpoint"]},
    {"query": {"type": "api_latency", "quantile": 0.99, "endpoint": "/e0"}, "group_by": ["service"]},
    {"query": {"type": "system_metric", "metric_name": "cpu_percent", "aggregate": "max"}, "group_by": ["instance"]},
    {"query": {"type": "system_metric", "metric_name": "cpu_percent"}},
    {"query": {"type": "system_metric", "metric_name": "cpu_percent", "aggregate": "min", "instance": "i-1"}},
    {"query": {"type": "system_metric", "metric_name": "memory_mb"}},
    {"query": {"type": "heartbeat", "kind": "log", "lookback_s": 3600}, "group_by": ["service"]},
    {"query": {"type": "heartbeat", "kind": "system_metric"}, "group_by": ["instance"]},
    {"query": {"type": "heartbeat", "kind": "api_metric"}},
]


@pytest.fixture(scope="module")
def loaded(settings) -> str:
    service = f"shared-{uuid.uuid4().hex[:8]}"
    load(settings, service)
    return service


@pytest.mark.parametrize("shape", SHARED, ids=shape_id)
def test_a_shared_scan_answers_each_rule_as_its_own_query(settings, loaded, shape):
    query = {**shape["query"], "service": loaded}
    rule = parse_rule({"name": "shared", "threshold": 1, "window": "5m", **shape, "query": query}, "test", 0)
    key = scan_key(rule.query.type, rule.query.params, rule.window_s)
    assert key is not None
    client = clickhouse.connect(settings.clickhouse_dsn)
    now = float(int(time.time()))
    with postgres.connect(settings.postgres_dsn) as conn:
        for at in (now - 3600, now - 600, now):  # inside the data and at its fresh end
            same(ScanCache(1).answer(rule, key, at, client), run_query(rule, at, client, conn), rule.query.type, at)
    # Without the service filter the same scan serves every service (here: the other tests' rows too).
    wide = parse_rule({"name": "wide", "threshold": 1, "window": "5m", **shape}, "test", 0)
    with postgres.connect(settings.postgres_dsn) as conn:
        same(ScanCache(1).answer(wide, key, now, client), run_query(wide, now, client, conn), wide.query.type, now)
    client.close()
