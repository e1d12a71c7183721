"""The per-minute rollups agree with the raw tables they summarise."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import requests

from tests.integration.conftest import eventually
from warehouse import clickhouse
from warehouse.queries.metrics import SeriesQuery, api_series, log_volume

pytestmark = pytest.mark.integration


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
    r = requests.post(
        f"{collector_url}/v1/events",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.json()["accepted"] == 600

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
    by_level = {}
    for point in volume:
        by_level[point["level"]] = by_level.get(point["level"], 0) + point["event_count"]
    assert by_level == {"error": 30, "info": 270}


def test_a_redelivered_batch_is_counted_once_in_raw_table_and_rollup(settings, node):
    from pipeline.rows import RowBuilder
    from pipeline.sinks import ClickHouseSink
    from warehouse.tables import TABLES

    service = f"redeliver-{uuid.uuid4().hex[:6]}"
    builder = RowBuilder(TABLES["api_metric"], settings.retention_days_for)
    now = int(time.time() * 1000)
    rows = [
        builder.build(
            {
                "kind": "api_metric",
                "event_id": str(uuid.uuid4()),
                "ts": now,
                "service": service,
                "instance": "",
                "endpoint": "/x",
                "method": "GET",
                "status_code": 200,
                "response_time_ms": 1.0,
            }
        )
        for _ in range(25)
    ]
    sink = ClickHouseSink(settings.clickhouse_dsn)
    token = f"lookout.api_metric:0:{service}"
    sink.write(TABLES["api_metric"], rows, token)
    sink.write(TABLES["api_metric"], rows, token)  # the same offsets again, as after a crash before the commit
    client = clickhouse.connect(settings.clickhouse_dsn)
    raw = client.query("SELECT count() FROM api_metrics WHERE service = {s:String}", parameters={"s": service})
    rollup = client.query(
        "SELECT sum(requests) FROM api_metrics_1m WHERE service = {s:String}", parameters={"s": service}
    )
    assert raw.result_rows[0][0] == 25
    assert rollup.result_rows[0][0] == 25

