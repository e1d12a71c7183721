"""The overview and API-metrics panels' pure parts: query building (scope, steps, parameters), shaping frames
into answers (gaps, rates, comparison, tables and links) and the platform-health arithmetic."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from dashboards.models import overview as models
from dashboards.timerange import parse_range
from dashboards.views import overview_panels as panels
from warehouse.queries import overview as queries
from warehouse.queries.overview import Scope, TopOrder

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def scope(minutes: int = 5, **filters: str) -> Scope:
    return Scope(NOW - timedelta(minutes=minutes), NOW, **filters)


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (timedelta(minutes=15), 60),
        (timedelta(hours=1), 60),
        (timedelta(hours=12), 600),
        (timedelta(hours=24), 3600),  # a day or more: whole hours, so the hourly rollups answer
        (timedelta(days=7), 7200),
    ],
)
def test_steps_stay_readable_and_never_below_a_minute(span, step):
    assert Scope(NOW - span, NOW).step_s == step
    assert span.total_seconds() / step <= queries.MAX_POINTS
    assert Scope(NOW - span, NOW).hourly == (span >= timedelta(days=1))


def test_long_ranges_read_whole_hours_from_the_hourly_rollup_and_the_rest_from_minutes():
    day, sql_short = Scope(NOW - timedelta(days=1), NOW, service="pay"), queries.build_requests(scope(60))[0]
    sql, params = queries.build_requests(day)
    assert "api_services_1h FINAL" in sql and "api_services_1m FINAL" in sql and "rollup_hour_progress" in sql
    assert "_1h" not in sql_short and "api_services_1m FINAL" in sql_short and "api_metrics_1m" not in sql_short
    assert params["step"] == 3600 and sql.count("service = {service:String}") >= 3
    # Panels by time or service read the per-service hours; one endpoint's, and the endpoint rankings, cannot.
    for built in (queries.build_services(day), queries.build_ingest(day)):
        assert "api_services_1h FINAL" in built[0] and "api_metrics_1" not in built[0]
        assert built[0].endswith(queries.FINAL_PER_PARTITION)
    built = queries.build_requests(replace(day, endpoint="/x"))
    assert "api_metrics_1h FINAL" in built[0] and "api_services_1h" not in built[0]
    # The rankings and the slowest requests' floor read the per-endpoint rollups (no status class).
    for built in (queries.build_endpoints(day), queries.build_slowest(day)):
        assert "api_endpoints_1h FINAL" in built[0] and "api_endpoints_1m FINAL" in built[0]
        assert "api_metrics_1" not in built[0] and "status_class" not in built[0]
    assert "api_endpoints_1m FINAL" in queries.build_endpoints(scope(60))[0]
    sizes, _ = queries.build_sizes(day)
    assert "api_metrics_1h FINAL" in sizes and "api_metrics FINAL" in sizes and "api_metrics_1m" not in sizes
    assert "sum(request_size_bytes)" in queries.build_sizes(scope(60))[0]


def test_user_values_travel_as_parameters_never_as_sql():
    hostile = "x' OR 1=1 --"
    sql, params = queries.build_endpoints(scope(service=hostile, endpoint=hostile, method="GET"))
    assert hostile not in sql
    assert params["service"] == params["endpoint"] == hostile
    assert "service = {service:String}" in sql and "endpoint = {endpoint:String}" in sql
    assert "quantilesTDigestMerge" in sql


def test_the_rankings_order_one_frame_of_every_endpoint():
    endpoints = pd.DataFrame(
        {
            "service": ["a", "a", "b", "c"],
            "method": ["GET", "POST", "GET", "GET"],
            "endpoint": ["/x", "/y", "/x", "/z"],
            "request_count": [10, 30, 30, 5],
            "errors_5xx": [1, 0, 4, 4],
            "errors_4xx": [0, 0, 0, 0],
            "p50_ms": [1.0, 2.0, 3.0, 4.0],
            "p95_ms": [50.0, 20.0, 90.0, 90.0],
            "p99_ms": [60.0, 30.0, 99.0, 95.0],
        }
    )

    def names(order: TopOrder, limit: int) -> list[str]:
        return [f"{r.service}{r.endpoint}" for r in queries.top(endpoints, order, limit).itertuples()]

    # Ties fall back to traffic, then to the name; the frame itself is left as it was.
    assert names(TopOrder.requests, 3) == ["a/y", "b/x", "a/x"]
    assert names(TopOrder.errors, 2) == ["b/x", "c/z"]
    assert names(TopOrder.p95, 10) == ["b/x", "c/z", "a/x", "a/y"]
    assert endpoints["service"].tolist() == ["a", "a", "b", "c"]


def test_filters_a_rollup_lacks_are_left_out_for_it():
    rollup_where, raw_where = scope(service="pay", endpoint="/x").where(queries.LOGS_1M)
    assert "service = {service:String}" in rollup_where and "endpoint" not in rollup_where
    assert "endpoint" not in raw_where


def test_ingest_counts_every_clickhouse_kind_and_postgres_kinds_apart():
    sql, _ = queries.build_ingest(scope())
    for kind in ("api_metric", "log", "system_metric", "blockchain_event"):
        assert f"'{kind}' AS kind" in sql
    assert "security_events" in queries.PG_INGEST and "admin_audit_logs" in queries.PG_INGEST


def test_the_previous_period_is_the_same_range_earlier():
    current = scope(60, service="pay")
    earlier = current.shifted(timedelta(days=1))
    assert (earlier.start, earlier.end, earlier.service) == (
        current.start - timedelta(days=1),
        NOW - timedelta(days=1),
        "pay",
    )


def requests_frame(rows: list[tuple[str, int, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"bucket": pd.Timestamp(b), "request_count": n, "errors_5xx": e5, "errors_4xx": e4,
             "p50_ms": p, "p95_ms": p * 2, "p99_ms": p * 3}
            for b, n, e5, e4, p in rows
        ]
    )  # fmt: skip


def test_request_points_fill_gaps_and_compute_rates():
    frame = requests_frame([("2026-12-01 11:56", 120, 6, 12, 40.0), ("2026-12-01 11:58", 60, 0, 0, 80.0)])
    points = panels.request_points(frame, scope())
    assert [p.bucket.strftime("%H:%M") for p in points] == ["11:55", "11:56", "11:57", "11:58", "11:59"]
    assert [p.request_count for p in points] == [0, 120, 0, 60, 0]
    assert points[1].requests_per_s == 2.0 and points[1].error_rate_5xx == 5.0 and points[1].error_rate_4xx == 10.0
    assert points[0].p95_ms is None and points[0].error_rate_5xx is None  # an empty minute is a gap
    assert points[3].p99_ms == 240.0 and points[1].bucket.tzinfo is not None


def test_an_empty_result_without_columns_is_an_empty_chart_not_an_error():
    points = panels.request_points(pd.DataFrame(), scope(3))
    assert [p.request_count for p in points] == [0, 0, 0]
    panel = panels.status_panel(pd.DataFrame(), scope(3))
    assert panel.data == [] and panel.figure is None


def test_latency_chart_draws_the_200_ms_target():
    panel = panels.requests_panel(requests_frame([("2026-12-01 11:56", 1, 0, 0, 300.0)]), scope(), panels.latency_chart)
    assert [t["name"] for t in panel.figure.data] == ["p50", "p95", "p99"]
    (target,) = panel.figure.layout["shapes"]
    assert target["y0"] == target["y1"] == 200.0


def test_comparison_moves_the_previous_period_onto_this_one_dashed():
    now = requests_frame([("2026-12-01 11:56", 10, 0, 0, 50.0)])
    before = requests_frame([("2026-11-30 11:56", 10, 1, 0, 25.0)])
    panel = panels.compared_panel(now, before, scope(), "1d", "latency")
    previous = [p for p in panel.data if p.period == "previous"]
    assert [p.bucket for p in previous] == [p.bucket for p in panel.data if p.period == "current"]
    assert [p.p95_ms for p in previous if p.request_count] == [50.0]
    dashed = [t for t in panel.figure.data if t["line"]["dash"] == "dash"]
    assert [t["name"] for t in dashed] == ["p95 a day earlier"]
    alone = panels.compared_panel(now, None, scope(), "none", "errors")
    assert {p.period for p in alone.data} == {"current"} and [t["name"] for t in alone.figure.data] == ["5xx", "4xx"]


def test_endpoint_tables_link_every_number_to_the_matching_search():
    frame = pd.DataFrame([{"service": 'pay"s', "method": "POST", "endpoint": "/pay", "request_count": 10,
                           "errors_5xx": 2, "errors_4xx": 0, "p50_ms": 10.0, "p95_ms": 250.0,
                           "p99_ms": 300.0}])  # fmt: skip
    span = parse_range("now-1h", "now", NOW)
    panel = panels.endpoints_panel(frame, scope(), span)
    row = panel.table.rows[0]
    query = parse_qs(urlsplit(row["errors"].href).query)
    assert query["q"] == ['service:"pay\\"s" method:"POST" endpoint:"/pay" status_code:>=500']
    assert (query["from"], query["to"]) == (["now-1h"], ["now"])
    assert row["p95"].tone == "danger" and row["errors"].tone == "danger" and row["client_errors"].tone == "muted"
    assert panels.pivot_url("req 1") == "/explore?pivot=req+1"


def test_services_table_sums_buckets_and_lists_quiet_services():
    per_bucket = pd.DataFrame([
        {"service": "pay", "bucket": pd.Timestamp("2026-12-01 11:56"), "request_count": 120, "errors_5xx": 1,
         "errors_4xx": 2, "p95_ms": 120.0},
        {"service": "pay", "bucket": pd.Timestamp("2026-12-01 11:58"), "request_count": 60, "errors_5xx": 0,
         "errors_4xx": 0, "p95_ms": 120.0},
    ])  # fmt: skip
    seen = pd.DataFrame([{"service": "pay", "last_seen": pd.Timestamp("2026-12-01 11:58:30")},
                         {"service": "batch", "last_seen": pd.Timestamp("2026-12-01 09:00")}])  # fmt: skip
    panel = panels.services_panel(per_bucket, seen, scope(), parse_range("now-5m", "now", NOW))
    pay, batch = panel.data
    assert (pay.service, pay.request_count, pay.errors_5xx, pay.errors_4xx, pay.p95_ms) == ("pay", 180, 1, 2, 120.0)
    assert pay.requests_per_s == pytest.approx(180 / 300) and pay.spark == [0.0, 2.0, 0.0, 1.0, 0.0]
    assert (batch.service, batch.request_count, batch.last_seen.hour) == ("batch", 0, 9)


EXPOSITION = """# TYPE lookout_collector_events_accepted_total counter
lookout_collector_events_accepted_total{kind="log"} 900.0
lookout_collector_events_accepted_total{kind="api_metric"} 100.0
# TYPE lookout_collector_events_rejected_total counter
lookout_collector_events_rejected_total{reason="invalid"} 0.0
# TYPE lookout_pipeline_consumer_lag gauge
lookout_pipeline_consumer_lag{sink="clickhouse",topic="lookout.log",partition="0"} 7.0
lookout_pipeline_consumer_lag{sink="clickhouse",topic="lookout.log",partition="1"} 5.0
# TYPE lookout_pipeline_sink_paused gauge
lookout_pipeline_sink_paused{sink="postgres"} 1.0
"""


def test_platform_health_turns_counters_into_rates_between_two_scrapes():
    first, sample = panels.health_items([EXPOSITION], None, 1000.0, NOW - timedelta(seconds=20), NOW, 15)
    by_key = {item.key: item for item in first}
    assert by_key["accepted"].value is None and by_key["accepted"].detail == "1,000 since start"
    assert by_key["lag"].value == 12.0 and by_key["lag"].label == "Lag clickhouse · lookout.log"
    assert by_key["paused"].value == 1.0 and by_key["paused"].detail == "postgres"
    assert by_key["rollup_age"].value == 20.0
    assert by_key["dead_letters"].detail == "no source exports it"
    later = EXPOSITION.replace("} 900.0", "} 1900.0")
    second, _ = panels.health_items([later], sample, 1010.0, None, NOW, 15)
    by_key = {item.key: item for item in second}
    assert by_key["accepted"].value == 100.0 and by_key["rejected"].value == 0.0
    assert by_key["rollup_age"].value is None
    table = panels.health_panel(second, ["http://x/metrics: refused"], 15).table
    assert table.rows[-1]["detail"].text == "http://x/metrics: refused"
    assert panels.health_tone(models.HealthItem(key="paused", label="", value=1, unit=""), 15) == "danger"


def test_a_collector_that_rejected_nothing_yet_reads_zero_rejected():
    # prometheus_client shows a labelled counter only after its first increment.
    fresh = EXPOSITION.replace('lookout_collector_events_rejected_total{reason="invalid"} 0.0\n', "")
    _, sample = panels.health_items([fresh], None, 1000.0, None, NOW, 15)
    items, _ = panels.health_items([fresh], sample, 1010.0, None, NOW, 15)
    rejected = next(item for item in items if item.key == "rejected")
    assert rejected.detail == "0 since start" and rejected.value == 0.0
    assert panels.health_tone(rejected, 15) == "ok"
    without_collector, _ = panels.health_items([""], None, 1000.0, None, NOW, 15)
    assert next(i for i in without_collector if i.key == "rejected").detail == "no source exports it"


def test_services_are_listed_busiest_first_then_those_that_only_log():
    per_bucket = pd.DataFrame([
        {"service": name, "bucket": pd.Timestamp("2026-12-01 11:58"), "request_count": n, "errors_5xx": 0,
         "errors_4xx": 0, "p95_ms": 10.0}
        for name, n in (("alpha", 5), ("beta", 50), ("gamma", 50))
    ])  # fmt: skip
    seen = pd.DataFrame([{"service": "cron", "last_seen": pd.Timestamp("2026-12-01 11:00")}])
    panel = panels.services_panel(per_bucket, seen, scope(), parse_range("now-5m", "now", NOW))
    assert [row.service for row in panel.data] == ["beta", "gamma", "alpha", "cron"]


def test_identical_queries_asked_together_run_once_and_each_asker_gets_its_own_frame():
    shared = panels.SharedQueries()
    started, release, runs = threading.Event(), threading.Event(), []

    def run() -> pd.DataFrame:
        runs.append(1)
        started.set()
        assert release.wait(5)
        return pd.DataFrame({"n": [1, 2]})

    built = ("SELECT 1", {"start": NOW})
    with ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(shared.frame, "viewer", built, run)
        assert started.wait(5)
        second = pool.submit(shared.frame, "viewer", built, run)
        other_role = pool.submit(shared.frame, "admin", built, lambda: pd.DataFrame({"n": [3]}))
        assert other_role.result(5)["n"].tolist() == [3]  # another role never shares an answer
        running = shared._running[("viewer", *panels.SharedQueries.key_of(built))]
        while not running._condition._waiters:  # until the second asker waits for the first's frame
            time.sleep(0.01)
        release.set()
        frames = [first.result(5), second.result(5)]
    assert len(runs) == 1 and [f["n"].tolist() for f in frames] == [[1, 2], [1, 2]]
    assert frames[0] is not frames[1]
    assert shared.frame("viewer", built, lambda: pd.DataFrame({"n": [9]}))["n"].tolist() == [9]  # nothing kept


def test_a_failed_shared_query_fails_every_asker_and_is_not_kept():
    shared = panels.SharedQueries()

    def fail() -> pd.DataFrame:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        shared.frame("viewer", ("SELECT 1", {}), fail)
    assert shared.frame("viewer", ("SELECT 1", {}), lambda: pd.DataFrame({"n": [1]}))["n"].tolist() == [1]


def test_the_clock_of_a_panel_is_rounded_up_to_a_whole_second():
    assert panels.whole_second(NOW) == NOW
    assert panels.whole_second(NOW + timedelta(microseconds=1)) == NOW + timedelta(seconds=1)
    assert panels.whole_second(NOW + timedelta(milliseconds=999)) == NOW + timedelta(seconds=1)


def test_only_services_not_heard_in_the_last_hour_are_looked_up_further_back():
    recent, _ = queries.build_recent_seen(scope(service="pay"))
    older, params = queries.build_older_seen(scope(service="pay"), ["a", "b' --"])
    assert "INTERVAL 1 HOUR" in recent and "_1m" not in recent
    assert params["heard"] == ["a", "b' --"] and "b' --" not in older
    assert older.count("service NOT IN {heard:Array(String)}") == 4 and "api_services_1m" in older
