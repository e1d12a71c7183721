"""Per-minute series for charts and alert rules, read from the rollups (migration 0005)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class SeriesQuery:
    start: datetime
    end: datetime
    service: str | None = None
    endpoint: str | None = None


def _filters(query: SeriesQuery, with_endpoint: bool) -> tuple[str, dict[str, Any]]:
    where = ["minute >= toStartOfMinute({start:DateTime64(3, 'UTC')})", "minute < {end:DateTime64(3, 'UTC')}"]
    params: dict[str, Any] = {"start": query.start, "end": query.end}
    if query.service:
        where.append("service = {service:String}")
        params["service"] = query.service
    if with_endpoint and query.endpoint:
        where.append("endpoint = {endpoint:String}")
        params["endpoint"] = query.endpoint
    return " AND ".join(where), params


def build_api_series(query: SeriesQuery) -> tuple[str, dict[str, Any]]:
    where, params = _filters(query, with_endpoint=True)
    sql = (
        "SELECT minute, sum(requests) AS request_count, sum(errors) AS error_count, "
        "sum(latency_sum_ms) / request_count AS latency_avg_ms, max(latency_max_ms) AS latency_max_ms, "
        "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles) AS latency_quantiles_ms "
        f"FROM api_metrics_1m WHERE {where} GROUP BY minute ORDER BY minute"
    )
    return sql, params


def build_log_volume(query: SeriesQuery) -> tuple[str, dict[str, Any]]:
    where, params = _filters(query, with_endpoint=False)
    sql = (
        "SELECT minute, level, sum(events) AS event_count "
        f"FROM logs_1m WHERE {where} GROUP BY minute, level ORDER BY minute, level"
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
