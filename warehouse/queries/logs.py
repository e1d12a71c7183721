"""Log search in ClickHouse: building the query is pure, running it is one call.

Reads use FINAL so an event re-delivered by the pipeline is returned once even
before ClickHouse has merged its copies away (see warehouse/migrations/clickhouse/0001).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

LEVELS = ("error", "warn", "info", "debug", "trace")
MAX_LIMIT = 1000

_COLUMNS = (
    "event_id, timestamp, service, instance, level, message, category, event_type, request_id, "
    "correlation_id, user_id, endpoint, method, status_code, response_time_ms, error_code, error_message, metadata"
)


@dataclass(frozen=True)
class LogQuery:
    service: str | None = None
    level: str | None = None
    text: str | None = None  # case-insensitive substring of the message
    request_id: str | None = None
    correlation_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100


def build(query: LogQuery) -> tuple[str, dict[str, Any]]:
    """SQL and bound parameters for a search; user input only ever travels as parameters."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": max(1, min(query.limit, MAX_LIMIT))}
    exact = {
        "service": query.service,
        "level": query.level,
        "request_id": query.request_id,
        "correlation_id": query.correlation_id,
    }
    for column, value in exact.items():
        if value:
            where.append(f"{column} = {{{column}:String}}")  # column names are ours; values are parameters
            params[column] = value
    if query.text:
        # lower() on both sides lets the ngram index on lower(message) prune granules.
        where.append("lower(message) LIKE {like:String}")
        params["like"] = "%" + _escape_like(query.text.lower()) + "%"
    if query.start:
        where.append("timestamp >= {start:DateTime64(3, 'UTC')}")
        params["start"] = query.start
    if query.end:
        where.append("timestamp < {end:DateTime64(3, 'UTC')}")
        params["end"] = query.end
    sql = f"SELECT {_COLUMNS} FROM logs FINAL"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY timestamp DESC, event_id LIMIT {limit:UInt32}"
    return sql, params


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(client: Client, query: LogQuery) -> list[dict[str, Any]]:
    sql, params = build(query)
    result = client.query(sql, parameters=params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
