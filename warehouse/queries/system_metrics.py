"""System metrics for the system page: per-instance series and each instance's latest state. Building each
statement is pure; values travel as parameters.

Series and latest values read the per-minute rollup (``system_metrics_1m``, migration 0006) through
:func:`rolled_up_or_raw`, so any range is cheap and exact. The levels the samples carry themselves
(``threshold_warning``/``threshold_critical``) and the metric's type are not rolled up: they are read from
the raw table over the last LEVELS_LOOKBACK of the range only, so their cost does not grow with the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from warehouse.queries.frames import query_frame
from warehouse.queries.rollups import SYSTEM_METRICS_1M, rolled_up_or_raw

LEVELS_LOOKBACK = timedelta(hours=24)
_T = "{%s:DateTime64(3, 'UTC')}"
_KEYS = ("service", "instance", "metric_name")


@dataclass(frozen=True)
class SystemQuery:
    start: datetime
    end: datetime
    service: str | None = None
    instance: str | None = None
    metric: str | None = None


def _filters(query: SystemQuery) -> tuple[str, str, dict[str, Any]]:
    """(rollup WHERE, raw WHERE, parameters) selecting the same minutes and series."""
    rollup = [f"minute >= toStartOfMinute({_T % 'start'})", f"minute < {_T % 'end'}"]
    raw = [f"timestamp >= toStartOfMinute({_T % 'start'})", f"toStartOfMinute(timestamp) < {_T % 'end'}"]
    params: dict[str, Any] = {"start": query.start, "end": query.end}
    for column, value in (("service", query.service), ("instance", query.instance), ("metric_name", query.metric)):
        if value:
            rollup.append(f"{column} = {{{column}:String}}")
            raw.append(f"{column} = {{{column}:String}}")
            params[column] = value
    return " AND ".join(rollup), " AND ".join(raw), params


def build_series(query: SystemQuery, step_s: int) -> tuple[str, dict[str, Any]]:
    """Per bucket of ``step_s`` (a multiple of 60) and instance: the mean and the peak of the metric."""
    rollup_where, raw_where, params = _filters(query)
    rows = rolled_up_or_raw(SYSTEM_METRICS_1M, rollup_where, raw_where)
    sql = (
        "SELECT toStartOfInterval(minute, toIntervalSecond({step:UInt32})) AS bucket, service, instance, "
        "sum(value_sum) / sum(samples) AS value, max(value_max) AS peak "
        f"FROM ({rows}) GROUP BY bucket, service, instance ORDER BY service, instance, bucket"
    )
    return sql, {**params, "step": step_s}


def build_latest(query: SystemQuery) -> tuple[str, dict[str, Any]]:
    """Per service, instance and metric: the last minute with samples, that minute's mean, the range's peak."""
    rollup_where, raw_where, params = _filters(query)
    rows = rolled_up_or_raw(SYSTEM_METRICS_1M, rollup_where, raw_where)
    sql = (
        "SELECT service, instance, metric_name, max(minute) AS last_minute, "
        "argMax(value_sum / samples, minute) AS last_value, max(value_max) AS peak "
        f"FROM ({rows}) GROUP BY service, instance, metric_name ORDER BY service, instance, metric_name"
    )
    return sql, params


def build_levels(query: SystemQuery) -> tuple[str, dict[str, Any]]:
    """Per service, instance and metric: its type, unit and the newest levels its samples carried."""
    since = max(query.start, query.end - LEVELS_LOOKBACK)
    _, raw_where, params = _filters(SystemQuery(since, query.end, query.service, query.instance, query.metric))
    sql = (
        "SELECT service, instance, metric_name, argMax(metric_type, timestamp) AS metric_type, "
        "argMax(unit, timestamp) AS unit, "
        "argMaxIf(threshold_warning, timestamp, isNotNull(threshold_warning)) AS sample_warning, "
        "argMaxIf(threshold_critical, timestamp, isNotNull(threshold_critical)) AS sample_critical "
        f"FROM system_metrics FINAL WHERE {raw_where} GROUP BY service, instance, metric_name"
    )
    return sql, params


SERIES_COLUMNS = ("bucket", "service", "instance", "value", "peak")
LATEST_COLUMNS = ("service", "instance", "metric_name", "last_minute", "last_value", "peak")
LEVELS_COLUMNS = ("service", "instance", "metric_name", "metric_type", "unit", "sample_warning", "sample_critical")


def series(client: Client, query: SystemQuery, step_s: int) -> pd.DataFrame:
    return query_frame(client, build_series(query, step_s), SERIES_COLUMNS)


def levels(client: Client, query: SystemQuery) -> pd.DataFrame:
    return query_frame(client, build_levels(query), LEVELS_COLUMNS)


def latest(client: Client, query: SystemQuery) -> pd.DataFrame:
    """The latest state joined with the levels (NaN where no sample within the lookback carried any)."""
    state = query_frame(client, build_latest(query), LATEST_COLUMNS)
    return state.merge(levels(client, query), on=list(_KEYS), how="left")


def build_metric_names(query: SystemQuery) -> tuple[str, dict[str, Any]]:
    rollup_where, raw_where, params = _filters(query)
    rows = rolled_up_or_raw(SYSTEM_METRICS_1M, rollup_where, raw_where)
    return f"SELECT DISTINCT metric_name FROM ({rows}) ORDER BY metric_name LIMIT 50", params


def metric_names(client: Client, query: SystemQuery) -> list[str]:
    """The metrics reported within the range (the page draws one chart per metric, at most 50)."""
    sql, params = build_metric_names(query)
    return [row[0] for row in client.query(sql, parameters=params).result_rows]
