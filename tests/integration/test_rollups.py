"""The per-minute rollups agree with the raw tables they summarise."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import requests

from lookout.settings import Settings
from pipeline.sinks import ClickHouseSink
from tests.integration.conftest import eventually
from warehouse import clickhouse
from warehouse.queries import overview
from warehouse.queries.overview import Scope
from warehouse.queries.timeseries import SeriesQuery, api_series, log_volume
from warehouse.rollup_refresh import refresh
from warehouse.tables import TABLES

pytestmark = pytest.mark.integration


def post_events(collector_url: str, ingest_key: str, events: list[dict]) -> int:
    """Send events through the collector; how many it accepted."""
    r = requests.post(
        f"{collector_url}/v1/events",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    return r.json()["accepted"]


def test_api_and_log_rollups_match_the_raw_rows(collector_url, ingest_key, node, settings):
    service = f"rollup-{uuid.uuid4().hex[:6]}"
    base = (int(time.time()) // 60) * 60_000 - 120_000  # two whole minutes ago
    events = []
    for i in range(300):
        minute = i % 2
        status = 500 if i % 10 == 0 else 200
        events.append(
            {
                "kind": "api_metric",
                "timestamp": base + minute * 60_000 + i,
                "service": service,
                "endpoint": "/pay",
                "method": "POST",
                "status_code": status,
                "response_time_ms": float(i),
            }
        )
        events.append(
            {
                "kind": "log",
                "timestamp": base + minute * 60_000 + i,
                "service": service,
                "level": "error" if status == 500 else "info",
                "message": f"m{i}",
            }
        )
    assert post_events(collector_url, ingest_key, events) == 600

    client = clickhouse.connect(settings.clickhouse_dsn)
    query = SeriesQuery(
        start=datetime.fromtimestamp(base / 1000, UTC),
        end=datetime.fromtimestamp(base / 1000, UTC) + timedelta(minutes=2),
        service=service,
    )
    series = eventually(lambda: (s := api_series(client, query)) and sum(p["request_count"] for p in s) == 300 and s)
    assert [p["request_count"] for p in series] == [150, 150]
    assert sum(p["error_count"] for p in series) == 30
    raw = client.query(
        "SELECT toStartOfMinute(timestamp) AS m, avg(response_time_ms), max(response_time_ms), "
        "quantileExact(0.5)(response_time_ms) FROM api_metrics FINAL WHERE service = {s:String} GROUP BY m ORDER BY m",
        parameters={"s": service},
    ).result_rows
    for point, (_minute, avg, maximum, median) in zip(series, raw, strict=True):
        assert point["latency_avg_ms"] == pytest.approx(avg)
        assert point["latency_max_ms"] == maximum
        assert point["latency_quantiles_ms"][0] == pytest.approx(median, rel=0.05)

    volume = eventually(lambda: (v := log_volume(client, query)) and sum(p["event_count"] for p in v) == 300 and v)
    # The refresh job rolls these minutes up; the series read from the rollups are the same.
    refresh(client, settle_s=0)
    rolled = client.query(
        "SELECT sum(requests) FROM api_metrics_1m FINAL WHERE service = {s:String}", parameters={"s": service}
    ).result_rows[0][0]
    assert rolled == 300
    assert api_series(client, query) == series
    assert log_volume(client, query) == volume
    by_level = {}
    for point in volume:
        by_level[point["level"]] = by_level.get(point["level"], 0) + point["event_count"]
    assert by_level == {"error": 30, "info": 270}


def write_redelivered(settings: Settings, kind: str, events: list[bytes], tag: str) -> int:
    """Write wire-form ``events`` (25 or more) the way a re-delivery cut differently stores them; copies stored.

    The first ten, then all of them, then the last five: after a crash before the commit the same events
    come back in other batches, so with other deduplication tokens, and ClickHouse stores every copy.
    """
    n = len(events)
    sink = ClickHouseSink.from_settings(settings)
    table = TABLES[kind]
    try:
        sink.write(table, events[:10], f"lookout.{kind}:0:{tag}:0-9")
        sink.write(table, events, f"lookout.{kind}:0:{tag}:0-{n - 1}")
        sink.write(table, events[n - 5 :], f"lookout.{kind}:0:{tag}:{n - 5}-{n - 1}")
    finally:
        sink.close()
    return 10 + n + 5


def replace_ts(event: bytes, ts: int) -> bytes:
    """A copy of wire-form ``event`` at ``ts`` with its own event id."""
    return orjson.dumps({**orjson.loads(event), "ts": ts, "event_id": str(uuid.uuid4())})


def write_once(settings: Settings, events: list[bytes], tag: str) -> None:
    sink = ClickHouseSink.from_settings(settings)
    try:
        sink.write(TABLES["api_metric"], events, f"lookout.api_metric:0:{tag}:once")
    finally:
        sink.close()


def test_a_redelivery_cut_differently_is_counted_once_in_raw_table_and_rollups(settings, node):
    service = f"redeliver-{uuid.uuid4().hex[:6]}"
    # The last 0.3 s of the previous minute: each copy is a part whose rows all lie in a minute's last second,
    # which partition pruning once skipped when the refresh compared timestamps with a DateTime (rollup 0).
    now = (int(time.time()) // 60) * 60_000 - 300
    events = [
        orjson.dumps(
            {
                "kind": "api_metric",
                "event_id": str(uuid.uuid4()),
                "ts": now,
                "service": service,
                "endpoint": "/x",
                "method": "GET",
                "status_code": 200,
                "response_time_ms": 1.0,
            }
        )
        for _ in range(25)
    ]
    write_redelivered(settings, "api_metric", events, service)
    client = clickhouse.connect(settings.clickhouse_dsn)
    start = datetime.fromtimestamp(now / 1000, UTC) - timedelta(minutes=1)
    query = SeriesQuery(start=start, end=start + timedelta(minutes=3), service=service)
    assert sum(p["request_count"] for p in api_series(client, query)) == 25  # before the refresh: from raw rows
    refresh(client, settle_s=0)
    raw = client.query("SELECT count() FROM api_metrics FINAL WHERE service = {s:String}", parameters={"s": service})
    rollup = client.query(
        "SELECT sum(requests) FROM api_metrics_1m FINAL WHERE service = {s:String}", parameters={"s": service}
    )
    per_service = client.query(
        "SELECT sum(requests), sum(errors), sum(latency_sum_ms) FROM api_services_1m FINAL WHERE service = {s:String}",
        parameters={"s": service},
    )
    per_endpoint = client.query(
        "SELECT sum(requests), sum(errors), sum(latency_sum_ms) FROM api_endpoints_1m FINAL WHERE service = {s:String}",
        parameters={"s": service},
    )
    assert raw.result_rows[0][0] == 25
    assert rollup.result_rows[0][0] == 25
    assert per_service.result_rows[0] == (25, 0, 25.0)
    assert per_endpoint.result_rows[0] == (25, 0, 25.0)
    assert sum(p["request_count"] for p in api_series(client, query)) == 25
    client.close()


def test_the_node_rolls_up_new_minutes_by_itself(collector_url, ingest_key, node, settings):
    """The scheduler's rollups job (every LOOKOUT_ROLLUP_INTERVAL_S, here 1 s) picks up what the pipeline wrote."""
    service = f"rollup-job-{uuid.uuid4().hex[:6]}"
    now = int(time.time() * 1000)
    event = {"kind": "log", "timestamp": now - 120_000, "service": service, "level": "warn", "message": "late"}
    events = [event] * 7  # the collector gives each its own event_id
    assert post_events(collector_url, ingest_key, events) == 7
    client = clickhouse.connect(settings.clickhouse_dsn)

    def rolled_up() -> int:
        rows = client.query(
            "SELECT sum(events) FROM logs_1m FINAL WHERE service = {s:String}", parameters={"s": service}
        ).result_rows
        return rows[0][0]

    # Marked minutes are taken 10 s after the insert that marked them (warehouse/rollup_refresh.py).
    assert eventually(lambda: rolled_up() == 7, timeout_s=40, interval_s=0.5)
    client.close()


def test_the_hourly_rollup_equals_the_minute_rollup_and_ignores_a_redelivery(settings, node):
    """Two ended hours of api_metric events, stored as a re-delivery cut differently stores them: the hourly
    rollup holds the minute rollup's sums hour by hour (and the raw sizes), the per-service one the raw rows'
    counts, a second re-delivery changes neither, and a day's panel reading whole hours counts every request
    once."""
    service = f"hourly-{uuid.uuid4().hex[:6]}"
    hour = (int(time.time()) // 3600 - 3) * 3600_000  # the start of an hour that ended two hours ago
    events = [
        orjson.dumps(
            {
                "kind": "api_metric",
                "event_id": str(uuid.uuid4()),
                "ts": hour + (i % 2) * 3600_000 + i * 61_000,  # two hours, many minutes each
                "service": service,
                "endpoint": "/pay",
                "method": "POST",
                "status_code": 500 if i % 7 == 0 else 404 if i % 5 == 0 else 200,
                "response_time_ms": float(i % 40) + 0.5,
                "request_size_bytes": 100 + i,
                **({"response_size_bytes": 1000 + i} if i % 3 else {}),
            }
        )
        for i in range(50)
    ]
    client = clickhouse.connect(settings.clickhouse_dsn)
    by_hour = (
        "SELECT hour, sum(requests), sum(errors), sum(latency_sum_ms), max(latency_max_ms), "
        "sum(request_size_sum), sum(response_size_sum), sum(response_size_count), max(request_size_max) "
        "FROM api_metrics_1h FINAL WHERE service = {s:String} GROUP BY hour ORDER BY hour"
    )
    by_minute = (
        "SELECT toStartOfHour(minute) AS hour, sum(requests), sum(errors), sum(latency_sum_ms), max(latency_max_ms) "
        "FROM api_metrics_1m FINAL WHERE service = {s:String} GROUP BY hour ORDER BY hour"
    )
    raw_sizes = (
        "SELECT toStartOfHour(timestamp) AS hour, sum(request_size_bytes), sum(response_size_bytes), "
        "count(response_size_bytes), max(request_size_bytes) FROM api_metrics FINAL WHERE service = {s:String} "
        "GROUP BY hour ORDER BY hour"
    )
    per_service = (
        "SELECT hour, sum(requests), sum(errors), sum(errors_4xx), sum(latency_sum_ms), max(latency_max_ms) "
        "FROM api_services_1h FINAL WHERE service = {s:String} GROUP BY hour ORDER BY hour"
    )
    raw_per_hour = (
        "SELECT toStartOfHour(timestamp) AS hour, count(), countIf(status_code >= 500), "
        "countIf(status_code >= 400 AND status_code < 500), sum(response_time_ms), max(response_time_ms) "
        "FROM api_metrics FINAL WHERE service = {s:String} GROUP BY hour ORDER BY hour"
    )
    per_endpoint = {
        table: (
            f"SELECT {time_column} AS hour, sum(requests), sum(errors), sum(errors_4xx), sum(latency_sum_ms), "
            f"max(latency_max_ms) FROM {table} FINAL WHERE service = {{s:String}} GROUP BY hour ORDER BY hour"
        )
        for table, time_column in (("api_endpoints_1h", "hour"), ("api_endpoints_1m", "toStartOfHour(minute)"))
    }
    day = Scope(datetime.fromtimestamp(hour / 1000, UTC) - timedelta(hours=20), datetime.now(UTC), service=service)

    def requests_in_day() -> int:
        return int(overview.frame(client, overview.build_requests(day))["request_count"].sum())

    assert write_redelivered(settings, "api_metric", events, service) > len(events)
    # A batch of its own in the last second of the second hour (see the redelivery test above).
    write_once(settings, [replace_ts(e, hour + 2 * 3600_000 - 200 - i) for i, e in enumerate(events[:5])], service)
    assert requests_in_day() == 55  # whatever the job has rolled up so far
    refresh(client, settle_s=0)
    hourly = client.query(by_hour, parameters={"s": service}).result_rows
    minutely = client.query(by_minute, parameters={"s": service}).result_rows
    sizes = client.query(raw_sizes, parameters={"s": service}).result_rows
    assert [row[0].timestamp() * 1000 for row in hourly] == [hour, hour + 3600_000]
    assert [row[1] for row in hourly] == [25, 30]
    assert [row[:3] for row in hourly] == [row[:3] for row in minutely]
    for ours, theirs in zip(hourly, minutely, strict=True):
        assert ours[3] == pytest.approx(theirs[3]) and ours[4] == theirs[4]
    assert [row[5:] for row in hourly] == [row[1:] for row in sizes]
    services = client.query(per_service, parameters={"s": service}).result_rows
    raw_hours = client.query(raw_per_hour, parameters={"s": service}).result_rows
    assert [row[:4] for row in services] == [row[:4] for row in raw_hours] and raw_hours[0][3] > 0
    for ours, theirs in zip(services, raw_hours, strict=True):
        assert ours[4] == pytest.approx(theirs[4]) and ours[5] == theirs[5]
    endpoints = {}
    for table, sql in per_endpoint.items():  # one endpoint here: the per-endpoint rollups hold the raw counts too
        endpoints[table] = client.query(sql, parameters={"s": service}).result_rows
        assert [row[:4] for row in endpoints[table]] == [row[:4] for row in raw_hours]
        for ours, theirs in zip(endpoints[table], raw_hours, strict=True):
            assert ours[4] == pytest.approx(theirs[4]) and ours[5] == theirs[5]
    assert requests_in_day() == 55
    ranked = overview.frame(client, overview.build_endpoints(day))
    assert ranked[["request_count", "errors_5xx", "errors_4xx"]].values.tolist() == [
        [55, sum(r[2] for r in raw_hours), sum(r[3] for r in raw_hours)]
    ]
    slowest_raw = client.query(
        "SELECT toString(event_id), response_time_ms FROM api_metrics FINAL WHERE service = {s:String} "
        "ORDER BY response_time_ms DESC, event_id LIMIT 20",
        parameters={"s": service},
    ).result_rows
    slowest = overview.frame(client, overview.build_slowest(day))
    assert list(zip(slowest["event_id"], slowest["response_time_ms"], strict=True)) == slowest_raw

    write_redelivered(settings, "api_metric", events, f"{service}-again")  # other tokens: stored again
    refresh(client, settle_s=0)
    assert client.query(by_hour, parameters={"s": service}).result_rows == hourly
    assert client.query(per_service, parameters={"s": service}).result_rows == services
    for table, sql in per_endpoint.items():
        assert client.query(sql, parameters={"s": service}).result_rows == endpoints[table]
    assert overview.frame(client, overview.build_endpoints(day)).equals(ranked)
    assert requests_in_day() == 55
    rolled = client.query(
        "SELECT uniqExact(hour) FROM api_metrics_1h FINAL WHERE service = {s:String} "
        "AND hour + toIntervalHour(1) <= (SELECT max(processed_until) FROM rollup_hour_progress)",
        parameters={"s": service},
    ).result_rows[0][0]
    assert rolled == 2  # both hours ended, so the panel took them from the hourly rollup
    client.close()


def test_a_batch_in_the_last_second_before_the_first_whole_hour_is_in_a_days_panels(settings, node):
    """A day's panels read the minutes before the first whole hour from the raw rows (the sizes always, the
    requests until the job rolls them up); a part whose rows all lie in that hour's last second is read too."""
    service = f"edge-{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=26)
    first_hour = start + timedelta(minutes=30)
    at = int(first_hour.timestamp() * 1000)
    events = [
        orjson.dumps(
            {
                "kind": "api_metric",
                "event_id": str(uuid.uuid4()),
                "ts": at - 300 + i,
                "service": service,
                "endpoint": "/edge",
                "method": "GET",
                "status_code": 200,
                "response_time_ms": 5.0,
                "request_size_bytes": 100 * (i + 1),
            }
        )
        for i in range(3)
    ]
    write_once(settings, events, service)
    client = clickhouse.connect(settings.clickhouse_dsn)
    day = Scope(start, start + timedelta(days=1), service=service)
    assert day.hourly
    sizes = overview.frame(client, overview.build_sizes(day)).dropna(subset=["request_avg_bytes"])
    assert sizes["request_avg_bytes"].tolist() == [200.0]
    assert sizes["request_max_bytes"].tolist() == [300]
    assert int(overview.frame(client, overview.build_requests(day))["request_count"].sum()) == 3
    refresh(client, settle_s=0)
    assert int(overview.frame(client, overview.build_requests(day))["request_count"].sum()) == 3
    client.close()
