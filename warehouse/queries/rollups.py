"""The per-minute rollups (migration 0006), the per-hour ones (0007), per service (0008) and per endpoint (0009):
how each is aggregated from its raw table. Building SQL is pure.

One definition serves both sides: the refresh job recomputes dirty minutes and hours with :func:`refresh_sql`,
and reads take what is not rolled up yet straight from the raw table with the same aggregates
(:func:`rolled_up_or_raw`, :func:`hours_and_the_rest`), so a series is exact whether or not the job has caught up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Rollup:
    source: str  # the raw table (read with FINAL: one row per event)
    target: str
    dimensions: tuple[tuple[str, str], ...]  # (column, expression over the raw table)
    measures: tuple[tuple[str, str], ...]  # (column, aggregate over the raw table)
    time: str = "minute"  # the bucket column; toStartOfMinute / toStartOfHour of the raw timestamp
    step_s: int = 60

    @property
    def truncate(self) -> str:
        return f"toStartOf{self.time.capitalize()}"

    @property
    def columns(self) -> list[str]:
        return [self.time, *(name for name, _ in self.dimensions), *(name for name, _ in self.measures)]


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

# Body sizes are nullable: the average is sum / count of the rows that carry one (as avg() skips NULLs).
SIZES = (
    ("request_size_sum", "sum(request_size_bytes)"),
    ("request_size_count", "count(request_size_bytes)"),
    ("request_size_max", "max(request_size_bytes)"),
    ("response_size_sum", "sum(response_size_bytes)"),
    ("response_size_count", "count(response_size_bytes)"),
    ("response_size_max", "max(response_size_bytes)"),
)
API_METRICS_1H = replace(
    API_METRICS_1M, target="api_metrics_1h", measures=API_METRICS_1M.measures + SIZES, time="hour", step_s=3600
)
LOGS_1H = replace(LOGS_1M, target="logs_1h", time="hour", step_s=3600)
SYSTEM_METRICS_1H = replace(SYSTEM_METRICS_1M, target="system_metrics_1h", time="hour", step_s=3600)
# Per service (migration 0008): what panels grouping by time or service alone read, ~30x fewer rows than the
# full dimensions (no endpoint, method or status class: 4xx and 5xx are counted apart instead).
API_SERVICES_1M = Rollup(
    "api_metrics",
    "api_services_1m",
    (("service", "service"), ("retention_days", "retention_days")),
    (
        ("requests", "count()"),
        ("errors", "countIf(status_code >= 500)"),
        ("errors_4xx", "countIf(status_code >= 400 AND status_code < 500)"),
        *API_METRICS_1M.measures[2:],
    ),
)
API_SERVICES_1H = replace(API_SERVICES_1M, target="api_services_1h", time="hour", step_s=3600)
# Per endpoint (migration 0009): what the endpoint rankings and the slowest requests' floor read, one t-digest state
# per endpoint-minute or endpoint-hour instead of one per status class too (4xx and 5xx counted apart instead).
API_ENDPOINTS_1M = replace(
    API_SERVICES_1M,
    target="api_endpoints_1m",
    dimensions=(*API_METRICS_1M.dimensions[:3], ("retention_days", "retention_days")),
)
API_ENDPOINTS_1H = replace(API_ENDPOINTS_1M, target="api_endpoints_1h", time="hour", step_s=3600)
# The per-service columns from a row of the full-dimension rollups (one status class each).
API_SERVICES_SHAPE = tuple(
    (name, "if(status_class = 4, requests, 0)" if name == "errors_4xx" else name)
    for name, _ in (*API_SERVICES_1M.dimensions, *API_SERVICES_1M.measures)
)
# Each minute rollup's hourly counterpart, by the minute table's name.
HOURLY = {
    minute.target: hour
    for minute, hour in (
        (API_METRICS_1M, API_METRICS_1H),
        (API_SERVICES_1M, API_SERVICES_1H),
        (API_ENDPOINTS_1M, API_ENDPOINTS_1H),
        (LOGS_1M, LOGS_1H),
        (SYSTEM_METRICS_1M, SYSTEM_METRICS_1H),
    )
}
# The tables the refresh job keeps, per raw table; the tables of one raw table share its markers and progress.
MINUTE_TABLES = {
    "api_metrics": (API_METRICS_1M, API_SERVICES_1M, API_ENDPOINTS_1M),
    "logs": (LOGS_1M,),
    "system_metrics": (SYSTEM_METRICS_1M,),
}
HOUR_TABLES = {source: tuple(HOURLY[r.target] for r in tables) for source, tables in MINUTE_TABLES.items()}
# Sizes per minute straight from the raw rows (no minute rollup carries them, and no table holds this one):
# the finer part of the sizes panel's hourly reads.
API_SIZES_1M = Rollup("api_metrics", "", API_METRICS_1M.dimensions, SIZES)


def _pending(rollup: Rollup, progress: str) -> str:
    return (
        f"(SELECT DISTINCT {rollup.truncate}(minute) FROM rollup_dirty_minutes WHERE source = '{rollup.source}' "
        f"AND marked_at > (SELECT max(processed_until) FROM {progress}))"
    )


def pending_minutes(rollup: Rollup) -> str:
    """Minutes marked by inserts the refresh job has not rolled up yet (every insert marks its minutes)."""
    return _pending(rollup, "rollup_progress")


def pending_hours(rollup: Rollup) -> str:
    """Hours touched since the hourly refresh (warehouse/rollup_refresh.py; hours that had not ended by then
    are not rolled up either: :func:`hours_and_the_rest`)."""
    return _pending(rollup, "rollup_hour_progress")


# Hours before this had ended when the hourly refresh last ran (an hour is rolled up once it has ended).
_HOURS_UNTIL = "toStartOfHour((SELECT max(processed_until) FROM rollup_hour_progress))"


def _at_ms(param: str) -> str:
    """Epoch seconds parameter ``param`` as a DateTime64(3), the raw ``timestamp``'s type.

    Never compare ``timestamp`` strictly with a DateTime: ClickHouse's partition pruning then turns
    ``timestamp < t`` into ``timestamp <= t - 1 s`` and skips every part whose rows all lie in the last second
    before ``t`` (while the rows themselves compare true), so a batch stored within the last second of a
    minute was missing from its rollup (ClickHouse issue 113993 describes the same bound shrinking).
    """
    return f"toDateTime64({{{param}:UInt32}}, 3, 'UTC')"


def aggregate_sql(rollup: Rollup, where: str) -> str:
    """The rollup's rows computed from its raw table, for the raw rows matching ``where``."""
    dimensions = ", ".join(f"{expression} AS {name}" for name, expression in rollup.dimensions)
    measures = ", ".join(f"{expression} AS {name}" for name, expression in rollup.measures)
    keys = ", ".join(name for name, _ in rollup.dimensions)
    return (
        f"SELECT {rollup.truncate}(timestamp) AS {rollup.time}, {dimensions}, {measures} "
        f"FROM {rollup.source} FINAL WHERE {where} GROUP BY {rollup.time}, {keys}"
    )


def refresh_sql(rollup: Rollup) -> str:
    """Recompute the buckets of parameter ``buckets`` (Array(UInt32) of epoch seconds) and replace their rows.

    ``lo`` and ``hi`` (epoch seconds) bound them, so only the days' partitions concerned are read.
    """
    where = (
        f"timestamp >= {_at_ms('lo')} AND timestamp < {_at_ms('hi')} "
        f"AND has({{buckets:Array(UInt32)}}, toUInt32({rollup.truncate}(timestamp)))"
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


def hours_and_the_rest(hourly: Rollup, finer: Rollup, first_hour: str, hours_end: str, hour_where: str,
                       rollup_where: str, raw_where: str) -> str:  # fmt: skip
    """Rows of ``finer``'s shape (time column ``minute``) over the minutes ``rollup_where`` / ``raw_where`` select,
    whose whole hours run from ``first_hour`` to ``hours_end`` (DateTime expressions, on hour boundaries).

    Whole hours that had ended by the hourly refresh's progress and were not marked since come from ``hourly``,
    one row per hour; every other minute (the hours the range cuts, hours not rolled up yet) from ``finer``: a
    minute rollup (:func:`rolled_up_or_raw`), or, if ``finer`` has no table, the raw rows. The two parts never
    overlap, so sums over them are exact. Both are plain ranges on the time column, so ClickHouse skips the other
    days' partitions (a disjunction with a NOT around it read the whole range of the minute rollup).
    """
    pending = pending_hours(hourly)
    columns = ", ".join(name for name, _ in (*finer.dimensions, *finer.measures))
    end = f"least({hours_end}, {_HOURS_UNTIL})"
    from_hours = (
        f"SELECT hour AS minute, {columns} FROM {hourly.target} FINAL "
        f"WHERE {hour_where} AND hour >= {first_hour} AND hour < {end} AND hour NOT IN {pending}"
    )

    def rest(minute: str) -> str:
        return f"({minute} < {first_hour} OR {minute} >= {end} OR toStartOfHour({minute}) IN {pending})"

    # On the raw rows, through the minute: a DateTime64 compared strictly with a DateTime loses parts (_at_ms).
    on_raw = rest("toStartOfMinute(timestamp)")
    if finer.target:
        rows = rolled_up_or_raw(finer, f"{rollup_where} AND {rest('minute')}", f"{raw_where} AND {on_raw}")
    else:
        rows = aggregate_sql(finer, f"{raw_where} AND {on_raw}")
    return f"{from_hours} UNION ALL {rows}"
