"""The SQL of alert rule queries. Pure: each builder returns parameterized SQL and its parameters.

Every query answers one row per group key: the group-by columns and ``value``.
The ClickHouse ones read the per-minute rollups (exact, see
warehouse/queries/rollups.py), so a window starts at the top of its first
minute: a 5-minute window covers the current minute and the 5 before it.
Only a text filter on logs needs the raw table (messages are not rolled up).

:func:`build_steps` asks the same question as of many past moments in one query (the rule preview): the
rows of the whole span are read once and each is joined to the steps whose window holds it, so a
preview of ~100 steps costs about one evaluation instead of a hundred.
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
    empty_is_zero: bool = False  # no row for a step means zero (a count without group_by), not no data


@dataclass(frozen=True)
class Steps:
    """Evaluate as of each of ``ends`` (each window ``window_s`` long): rows carry their end in ``step``."""

    ends: tuple[datetime, ...]
    window_s: int

    def join(self, time_column: str) -> str:
        """Each row once per step whose window holds it (a window starts at the top of its first minute)."""
        return (
            f" ARRAY JOIN arrayFilter(t -> {time_column} >= toStartOfMinute(t - toIntervalSecond({{window_s:UInt32}}))"
            f" AND {time_column} < t, {{steps:Array(DateTime64(3, 'UTC'))}}) AS step"
        )


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


def _grouped(
    select_value: str,
    source: str,
    group_by: Sequence[str],
    having: str = "",
    steps: Steps | None = None,
    time_column: str = "minute",
) -> str:
    names = ["step", *group_by] if steps else list(group_by)
    keys = ", ".join(names)
    head = f"SELECT {keys + ', ' if keys else ''}{select_value} AS value FROM ({source})"
    if steps:
        head += steps.join(time_column)
    return head + (f" GROUP BY {keys}" if keys else "") + (f" HAVING {having}" if having else "")


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def log_count(
    params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime, steps: Steps | None = None
) -> BuiltQuery:
    where = _Where(start, end)
    where.equals("service", params.get("service"))
    where.one_of("level", params.get("level"))
    # Without group_by the aggregate answers one row even when nothing matched: zero events, not no data.
    zero = not group_by
    if "text" in params:
        # Messages are not rolled up: read the raw rows (the ngram index on lower(message) serves LIKE).
        conditions = [*where.raw, "lower(message) LIKE {pattern:String}"]
        source = f"SELECT * FROM logs FINAL WHERE {' AND '.join(conditions)}"
        sql = _grouped("count()", source, group_by, steps=steps, time_column="timestamp")
        return BuiltQuery(
            "clickhouse", sql, {**where.params, "pattern": _like_pattern(params["text"])}, tuple(group_by), zero
        )
    sql = _grouped("sum(events)", where.rows(LOGS_1M), group_by, steps=steps)
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by), zero)


def api_error_rate(
    params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime, steps: Steps | None = None
) -> BuiltQuery:
    """5xx responses in percent of requests; windows with fewer than ``min_requests`` requests are no data."""
    where = _Where(start, end)
    where.equals("service", params.get("service"))
    where.equals("endpoint", params.get("endpoint"))
    sql = _grouped(
        "100 * sum(errors) / sum(requests)",
        where.rows(API_METRICS_1M),
        group_by,
        having="sum(requests) >= {min_requests:UInt64}",
        steps=steps,
    )
    return BuiltQuery(
        "clickhouse", sql, {**where.params, "min_requests": params.get("min_requests", 1)}, tuple(group_by)
    )


def api_latency(
    params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime, steps: Steps | None = None
) -> BuiltQuery:
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
        steps=steps,
    )
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by))


def system_metric(
    params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime, steps: Steps | None = None
) -> BuiltQuery:
    where = _Where(start, end)
    where.equals("metric_name", params["metric_name"])
    where.equals("service", params.get("service"))
    where.equals("instance", params.get("instance"))
    value = {"avg": "sum(value_sum) / sum(samples)", "max": "max(value_max)", "min": "min(value_min)"}[
        params.get("aggregate", "avg")
    ]
    sql = _grouped(value, where.rows(SYSTEM_METRICS_1M), group_by, having="sum(samples) > 0", steps=steps)
    return BuiltQuery("clickhouse", sql, where.params, tuple(group_by))


def heartbeat(
    params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime, steps: Steps | None = None
) -> BuiltQuery:
    """Seconds since the end of the last minute with an event, per series seen within ``lookback_s``.

    The rule's window is ignored: a silent series is one seen in the lookback (default a day) and not since.
    """
    lookback_s = int(params.get("lookback_s", 86400))
    first = steps.ends[0] if steps else end
    if steps:
        steps = Steps(steps.ends, lookback_s)
    where = _Where(first - timedelta(seconds=lookback_s), end)
    where.equals("service", params.get("service"))
    rollup = HEARTBEAT_ROLLUPS[params.get("kind", "log")]
    as_of = "step" if steps else "{end:DateTime64(3, 'UTC')}"
    value = f"dateDiff('second', max(minute) + INTERVAL 1 MINUTE, {as_of})"
    sql = _grouped(f"greatest(0, {value})", where.rows(rollup), group_by, steps=steps)
    return BuiltQuery("clickhouse", sql, {**where.params, **({"window_s": lookback_s} if steps else {})},
                      tuple(group_by))  # fmt: skip


def security_events(
    params: Mapping[str, Any], group_by: Sequence[str], start: datetime, end: datetime, steps: Steps | None = None
) -> BuiltQuery:
    """Security events (PostgreSQL) in the window by severity and type."""
    conditions = ["timestamp >= %(start)s", "timestamp < %(end)s"]
    values: dict[str, Any] = {"start": start, "end": end}
    source = "security_events"
    if steps:
        source = ("unnest(%(steps)s::timestamptz[]) AS s(step) JOIN security_events ON timestamp >= "
                  "s.step - make_interval(secs => %(window_s)s) AND timestamp < s.step")  # fmt: skip
        values.update(steps=list(steps.ends), window_s=steps.window_s)
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
    if steps:
        columns.insert(0, "s.step AS step")
    select = ", ".join([*columns, "count(*) AS value"])
    sql = f"SELECT {select} FROM {source} WHERE {' AND '.join(conditions)}"
    if columns:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(columns)))
    return BuiltQuery("postgres", sql, values, tuple(group_by), not group_by)


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


def build_steps(
    query_type: str, params: Mapping[str, Any], group_by: Sequence[str], window_s: int, ends: Sequence[datetime]
) -> BuiltQuery:
    """The query as of each of ``ends`` (in time order), in one query: rows carry their end in ``step``."""
    steps = Steps(tuple(ends), window_s)
    built = BUILDERS[query_type](params, group_by, ends[0] - timedelta(seconds=window_s), ends[-1], steps)
    if built.database == "clickhouse":
        built.params.setdefault("window_s", window_s)
        built.params["steps"] = list(ends)
    return built


# ---------------------------------------------------------------- shared scans
# Many rules read the same rollup over the same window with different filters and group-bys. A scan reads it
# once at the finest grain any of them needs (every dimension a rule may filter or group by), and each rule's
# answer is derived from the scan's rows (alerts/shared_scans.py), so a round of 200 rules costs a few scans
# instead of 200 queries. Text searches (a pattern per rule) and security events (PostgreSQL) are not shared.

API_GROUPING_SETS = ("(service, endpoint)", "(service)", "(endpoint)", "()")


def scan_key(query_type: str, params: Mapping[str, Any], window_s: int) -> tuple[Any, ...] | None:
    """What identifies the scan that can answer this rule (rules with equal keys share one), or None."""
    if query_type == "log_count" and "text" not in params:
        return ("logs", window_s)
    if query_type in ("api_error_rate", "api_latency"):
        return ("api", window_s)
    if query_type == "system_metric":
        return ("system", window_s)
    if query_type == "heartbeat":
        return ("heartbeat", params.get("kind", "log"), int(params.get("lookback_s", 86400)))
    return None


def scan(key: tuple[Any, ...], end: datetime) -> BuiltQuery:
    """The scan for ``key`` (from :func:`scan_key`) over the window ending at ``end``."""
    family = key[0]
    if family == "heartbeat":
        _, kind, lookback_s = key
        where = _Where(end - timedelta(seconds=lookback_s), end)
        dims = ("service", "instance") if kind == "system_metric" else ("service",)
        sql = f"SELECT {', '.join(dims)}, max(minute) AS last FROM ({where.rows(HEARTBEAT_ROLLUPS[kind])}) " \
              f"GROUP BY {', '.join(dims)}"  # fmt: skip
        return BuiltQuery("clickhouse", sql, where.params, dims)
    where = _Where(end - timedelta(seconds=key[1]), end)
    if family == "logs":
        sql = f"SELECT service, level, sum(events) AS events FROM ({where.rows(LOGS_1M)}) GROUP BY service, level"
        return BuiltQuery("clickhouse", sql, where.params, ("service", "level"))
    if family == "system":
        sql = (
            "SELECT service, instance, metric_name, sum(samples) AS samples, sum(value_sum) AS value_sum, "
            f"min(value_min) AS value_min, max(value_max) AS value_max FROM ({where.rows(SYSTEM_METRICS_1M)}) "
            "GROUP BY service, instance, metric_name"
        )
        return BuiltQuery("clickhouse", sql, where.params, ("service", "instance", "metric_name"))
    # api: every grouping of (service, endpoint), since latency quantiles cannot be merged again afterwards;
    # `grouping` says which (bit 2: service left out, bit 1: endpoint left out).
    levels = ", ".join(map(str, QUANTILE_LEVELS))
    sql = (
        "SELECT service, endpoint, GROUPING(service, endpoint) AS grouping, sum(requests) AS requests, "
        f"sum(errors) AS errors, quantilesTDigestMerge({levels})(latency_quantiles) AS quantiles "
        f"FROM ({where.rows(API_METRICS_1M)}) GROUP BY GROUPING SETS ({', '.join(API_GROUPING_SETS)})"
    )
    return BuiltQuery("clickhouse", sql, where.params, ("service", "endpoint"))
