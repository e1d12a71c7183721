"""The SQL of alert rule queries. Pure: each builder returns parameterized SQL and its parameters.

Every query answers one row per group key: the group-by columns and ``value``.
The ClickHouse ones read the per-minute rollups (exact, see
warehouse/queries/rollups.py), so a window starts at the top of its first
minute: a 5-minute window covers the current minute and the 5 before it.
Only a text filter on logs needs the raw table (messages are not rolled up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from warehouse.queries.rollups import API_METRICS_1M, LOGS_1M, SYSTEM_METRICS_1M, Rollup, rolled_up_or_raw

QUANTILE_LEVELS = (0.5, 0.9, 0.95, 0.99)  # the levels the api_metrics_1m t-digests were built with
HEARTBEAT_ROLLUPS = {"log": LOGS_1M, "api_metric": API_METRICS_1M, "system_metric": SYSTEM_METRICS_1M}


@dataclass(frozen=True)
class BuiltQuery:
    database: str  # clickhouse | postgres
    sql: str
    params: dict[str, Any]
    group_by: tuple[str, ...]


class _Where:
    """The same filters on the rollup (by minute) and on the raw table (by timestamp)."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.rollup = ["minute >= toStartOfMinute({start:DateTime64(3, 'UTC')})", "minute < {end:DateTime64(3, 'UTC')}"]
        self.raw = [
            "timestamp >= toStartOfMinute({start:DateTime64(3, 'UTC')})",
            "timestamp < {end:DateTime64(3, 'UTC')}",
        ]
        self.params: dict[str, Any] = {"start": start, "end": end}

    def equals(self, column: str, value: str | None) -> None:
        if value is not None:
            self.rollup.append(f"{column} = {{{column}:String}}")
            self.raw.append(f"{column} = {{{column}:String}}")
            self.params[column] = value

    def one_of(self, column: str, values: Sequence[str] | None) -> None:
        if values:
            self.rollup.append(f"{column} IN {{{column}:Array(String)}}")
            self.raw.append(f"{column} IN {{{column}:Array(String)}}")
            self.params[column] = list(values)

    def rows(self, rollup: Rollup) -> str:
        return rolled_up_or_raw(rollup, " AND ".join(self.rollup), " AND ".join(self.raw))


def _grouped(select_value: str, source: str, group_by: Sequence[str], having: str = "") -> str:
    keys = ", ".join(group_by)
    head = f"SELECT {keys + ', ' if keys else ''}{select_value} AS value FROM ({source})"
    return head + (f" GROUP BY {keys}" if keys else "") + (f" HAVING {having}" if having else "")


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def log_count(params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime) -> BuiltQuery:
    where = _Where(start, end)
    where.equals("service", params.get("service"))
    where.one_of("level", params.get("level"))
    if "text" in params:
        # Messages are not rolled up: read the raw rows (the ngram index on lower(message) serves LIKE).
        conditions = [*where.raw, "lower(message) LIKE {pattern:String}"]
        source = f"SELECT * FROM logs FINAL WHERE {' AND '.join(conditions)}"
        sql = _grouped("count()", source, group_by)
        return BuiltQuery(
            "clickhouse", sql, {**where.params, "pattern": _like_pattern(params["text"])}, tuple(group_by)
        )
    # Without group_by the aggregate answers one row even when nothing matched: zero events, not no data.
    sql = _grouped("sum(events)", where.rows(LOGS_1M), group_by)
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by))


def api_error_rate(params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime) -> BuiltQuery:
    """5xx responses in percent of requests; windows with fewer than ``min_requests`` requests are no data."""
    where = _Where(start, end)
    where.equals("service", params.get("service"))
    where.equals("endpoint", params.get("endpoint"))
    sql = _grouped(
        "100 * sum(errors) / sum(requests)",
        where.rows(API_METRICS_1M),
        group_by,
        having="sum(requests) >= {min_requests:UInt64}",
    )
    return BuiltQuery(
        "clickhouse", sql, {**where.params, "min_requests": params.get("min_requests", 1)}, tuple(group_by)
    )


def api_latency(params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime) -> BuiltQuery:
    where = _Where(start, end)
    where.equals("service", params.get("service"))
    where.equals("endpoint", params.get("endpoint"))
    index = QUANTILE_LEVELS.index(float(params.get("quantile", 0.95))) + 1
    levels = ", ".join(map(str, QUANTILE_LEVELS))
    sql = _grouped(
        f"quantilesTDigestMerge({levels})(latency_quantiles)[{index}]",
        where.rows(API_METRICS_1M),
        group_by,
        having="sum(requests) > 0",
    )
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by))


def system_metric(params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime) -> BuiltQuery:
    where = _Where(start, end)
    where.equals("metric_name", params["metric_name"])
    where.equals("service", params.get("service"))
    where.equals("instance", params.get("instance"))
    value = {"avg": "sum(value_sum) / sum(samples)", "max": "max(value_max)", "min": "min(value_min)"}[
        params.get("aggregate", "avg")
    ]
    sql = _grouped(value, where.rows(SYSTEM_METRICS_1M), group_by, having="sum(samples) > 0")
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by))


def heartbeat(params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime) -> BuiltQuery:
    """Seconds since the end of the last minute with an event, per series seen within ``lookback_s``.

    ``start`` is ignored: a silent series is one seen in the lookback (default a day) and not since.
    """
    lookback = end - timedelta(seconds=int(params.get("lookback_s", 86400)))
    where = _Where(lookback, end)
    where.equals("service", params.get("service"))
    rollup = HEARTBEAT_ROLLUPS[params.get("kind", "log")]
    value = "dateDiff('second', max(minute) + INTERVAL 1 MINUTE, {end:DateTime64(3, 'UTC')})"
    sql = _grouped(f"greatest(0, {value})", where.rows(rollup), group_by)
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by))


def security_events(params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime) -> BuiltQuery:
    """Security events (PostgreSQL) in the window by severity and type."""
    conditions = ["timestamp >= %(start)s", "timestamp < %(end)s"]
    values: dict[str, Any] = {"start": start, "end": end}
    if "service" in params:
        conditions.append("service = %(service)s")
        values["service"] = params["service"]
    for column in ("severity", "event_type"):
        if params.get(column):
            conditions.append(f"{column} = ANY(%({column})s)")
            values[column] = list(params[column])
    if "ip_address" in group_by:
        conditions.append("ip_address IS NOT NULL")
    columns = [("host(ip_address)" if g == "ip_address" else g) + f" AS {g}" for g in group_by]
    select = ", ".join([*columns, "count(*) AS value"])
    sql = f"SELECT {select} FROM security_events WHERE {' AND '.join(conditions)}"
    if group_by:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(group_by)))
    return BuiltQuery("postgres", sql, values, tuple(group_by))


BUILDERS = {
    "log_count": log_count,
    "api_error_rate": api_error_rate,
    "api_latency": api_latency,
    "system_metric": system_metric,
    "heartbeat": heartbeat,
    "security_events": security_events,
}


def build(
    query_type: str, params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime
) -> BuiltQuery:
    return BUILDERS[query_type](params, group_by, start, end)
