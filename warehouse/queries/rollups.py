"""The per-minute rollups (migration 0006): how each is aggregated from its raw table. Building SQL is pure.

One definition serves both sides: the refresh job recomputes dirty minutes with
:func:`refresh_sql`, and reads take minutes not rolled up yet straight from
the raw table with the same aggregates (:func:`rolled_up_or_raw`), so a series
is exact whether or not the job has caught up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rollup:
    source: str  # the raw table (read with FINAL: one row per event)
    target: str
    dimensions: tuple[tuple[str, str], ...]  # (column, expression over the raw table)
    measures: tuple[tuple[str, str], ...]  # (column, aggregate over the raw table)

    @property
    def columns(self) -> list[str]:
        return ["minute", *(name for name, _ in self.dimensions), *(name for name, _ in self.measures)]


API_METRICS_1M = Rollup(
    "api_metrics",
    "api_metrics_1m",
    (
        ("service", "service"),
        ("endpoint", "endpoint"),
        ("method", "method"),
        ("status_class", "toUInt8(intDiv(status_code, 100))"),
        ("retention_days", "retention_days"),
    ),
    (
        ("requests", "count()"),
        ("errors", "countIf(status_code >= 500)"),
        ("latency_sum_ms", "sum(response_time_ms)"),
        ("latency_max_ms", "max(response_time_ms)"),
        ("latency_quantiles", "quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(response_time_ms)"),
    ),
)
LOGS_1M = Rollup(
    "logs",
    "logs_1m",
    (("service", "service"), ("level", "level"), ("retention_days", "retention_days")),
    (("events", "count()"),),
)
SYSTEM_METRICS_1M = Rollup(
    "system_metrics",
    "system_metrics_1m",
    (
        ("service", "service"),
        ("instance", "instance"),
        ("metric_name", "metric_name"),
        ("retention_days", "retention_days"),
    ),
    (("samples", "count()"), ("value_sum", "sum(value)"), ("value_min", "min(value)"), ("value_max", "max(value)")),
)
ROLLUPS = {r.source: r for r in (API_METRICS_1M, LOGS_1M, SYSTEM_METRICS_1M)}


def pending_minutes(rollup: Rollup) -> str:
    """Minutes marked by inserts the refresh job has not rolled up yet (every insert marks its minutes)."""
    return (
        f"(SELECT DISTINCT minute FROM rollup_dirty_minutes WHERE source = '{rollup.source}' "
        "AND marked_at > (SELECT max(processed_until) FROM rollup_progress))"
    )


def aggregate_sql(rollup: Rollup, where: str) -> str:
    """The rollup's rows computed from its raw table, for the raw rows matching ``where``."""
    dimensions = ", ".join(f"{expression} AS {name}" for name, expression in rollup.dimensions)
    measures = ", ".join(f"{expression} AS {name}" for name, expression in rollup.measures)
    keys = ", ".join(name for name, _ in rollup.dimensions)
    return (
        f"SELECT toStartOfMinute(timestamp) AS minute, {dimensions}, {measures} "
        f"FROM {rollup.source} FINAL WHERE {where} GROUP BY minute, {keys}"
    )


def refresh_sql(rollup: Rollup) -> str:
    """Recompute the minutes of parameter ``minutes`` (Array(UInt32) of epoch seconds) and replace their rows.

    ``lo`` and ``hi`` (DateTime) bound them, so only the days' partitions concerned are read.
    """
    where = (
        "timestamp >= {lo:DateTime} AND timestamp < {hi:DateTime} "
        "AND has({minutes:Array(UInt32)}, toUInt32(toStartOfMinute(timestamp)))"
    )
    columns = ", ".join(rollup.columns)
    rows = aggregate_sql(rollup, where)
    return f"INSERT INTO {rollup.target} ({columns}, refreshed_at) SELECT *, now64(3) FROM ({rows})"


def rolled_up_or_raw(rollup: Rollup, rollup_where: str, raw_where: str) -> str:
    """Rows of the rollup's shape: minutes the job has rolled up from the rollup table, minutes touched
    since (new ones, or old ones that got late events) from the raw table."""
    columns = ", ".join(rollup.columns)
    pending = pending_minutes(rollup)
    return (
        f"SELECT {columns} FROM {rollup.target} FINAL WHERE {rollup_where} AND minute NOT IN {pending} "
        f"UNION ALL {aggregate_sql(rollup, f'{raw_where} AND toStartOfMinute(timestamp) IN {pending}')}"
    )
