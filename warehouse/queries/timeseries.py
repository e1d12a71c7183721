"""Per-minute series for charts and alert rules: rolled-up minutes from the rollups (migration 0006), the
newest from the raw tables, so a series is exact whether or not the refresh job has caught up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from warehouse.queries.rollups import API_METRICS_1M, LOGS_1M, rolled_up_or_raw


@dataclass(frozen=True)
class SeriesQuery:
    start: datetime
    end: datetime
    service: str | None = None
    endpoint: str | None = None


def _filters(query: SeriesQuery, with_endpoint: bool) -> tuple[str, str, dict[str, Any]]:
    """(rollup WHERE, raw WHERE, parameters) selecting the same minutes and series."""
    rollup = ["minute >= toStartOfMinute({start:DateTime64(3, 'UTC')})", "minute < {end:DateTime64(3, 'UTC')}"]
    raw = [
        "timestamp >= toStartOfMinute({start:DateTime64(3, 'UTC')})",
        "toStartOfMinute(timestamp) < {end:DateTime64(3, 'UTC')}",
    ]
    params: dict[str, Any] = {"start": query.start, "end": query.end}
    if query.service:
        rollup.append("service = {service:String}")
        raw.append("service = {service:String}")
        params["service"] = query.service
    if with_endpoint and query.endpoint:
        rollup.append("endpoint = {endpoint:String}")
        raw.append("endpoint = {endpoint:String}")
        params["endpoint"] = query.endpoint
    return " AND ".join(rollup), " AND ".join(raw), params


def build_api_series(query: SeriesQuery) -> tuple[str, dict[str, Any]]:
    rollup_where, raw_where, params = _filters(query, with_endpoint=True)
    rows = rolled_up_or_raw(API_METRICS_1M, rollup_where, raw_where)
    sql = (
        "SELECT minute, sum(requests) AS request_count, sum(errors) AS error_count, "
        "sum(latency_sum_ms) / request_count AS latency_avg_ms, max(latency_max_ms) AS latency_max_ms, "
        "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles) AS latency_quantiles_ms "
        f"FROM ({rows}) GROUP BY minute ORDER BY minute"
    )
    return sql, params


def build_log_volume(query: SeriesQuery) -> tuple[str, dict[str, Any]]:
    rollup_where, raw_where, params = _filters(query, with_endpoint=False)
    rows = rolled_up_or_raw(LOGS_1M, rollup_where, raw_where)
    sql = (
        f"SELECT minute, level, sum(events) AS event_count FROM ({rows}) GROUP BY minute, level ORDER BY minute, level"
    )
    return sql, params


def _rows(client: Client, built: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    result = client.query(built[0], parameters=built[1])
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def api_series(client: Client, query: SeriesQuery) -> list[dict[str, Any]]:
    """Requests, 5xx errors and latency (avg, max, p50/p90/p95/p99) per minute."""
    return _rows(client, build_api_series(query))


def log_volume(client: Client, query: SeriesQuery) -> list[dict[str, Any]]:
    """Log events per minute and level."""
    return _rows(client, build_log_volume(query))
