"""The overview and API-metrics panels' queries. Building SQL is pure; each ``*_frame`` runs one query and
hands a pandas frame to the panel (clickhouse-connect's ``query_df``), which shapes it (dashboards/shaping.py).

Aggregates read :func:`rolled_up_or_raw`: rolled-up minutes from the per-minute rollups (migration 0006),
minutes not rolled up yet from the raw tables, so every range is exact. Ranges of a day or more step by whole
hours (never 15 or 20 minutes), so their buckets are unions of hours and read the per-hour rollups (0007)
through :func:`hours_and_the_rest`: whole hours from the hourly rollup, the hours the range cuts at either end
and hours not rolled up yet from the minute path, still exact, and 60 times fewer rows to merge than minutes.
Percentiles merge the rollups' t-digest states (``quantilesTDigestMerge``), so a percentile over a day is a
percentile of the day's requests, not an average of per-minute or per-hour percentiles. Panels that group by
time or service alone (requests, errors, latency, services, ingest) read :meth:`Scope.service_rows`: the
per-service rollups (0008), one t-digest state per service-minute or service-hour instead of one per endpoint,
method and status class (merging them is most of a panel's cost); the endpoint rankings read the per-endpoint
rollups (0009), one state per endpoint-minute or endpoint-hour, not one per status class too. Sizes come from the
hourly rollup's sums over long ranges; the slowest requests and the last event seen read raw rows only where
the rollups point (see their builders).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pandas as pd
import psycopg
from clickhouse_connect.driver.client import Client

from warehouse.queries.rollups import (
    API_ENDPOINTS_1M,
    API_METRICS_1M,
    API_SERVICES_1M,
    API_SERVICES_SHAPE,
    API_SIZES_1M,
    HOURLY,
    LOGS_1M,
    SYSTEM_METRICS_1M,
    Rollup,
    aggregate_sql,
    hours_and_the_rest,
    rolled_up_or_raw,
)

# The rollups hold these levels (migration 0006); a merge must name the same ones.
QUANTILES = "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles)"
P50, P95, P99 = "q[1]", "q[3]", "q[4]"
# Readable steps, at most ~120 points per line; never below the rollups' minute.
STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 120
# From a day on, steps are whole hours (a day: 24 points, not 96), so long ranges read the hourly rollups.
HOURLY_FROM_S = 86400
HOUR_S = 3600
TOP_LIMIT = 10
SLOWEST_LIMIT = 20
_START = "{start:DateTime64(3, 'UTC')}"
_END = "{end:DateTime64(3, 'UTC')}"
_BUCKET = "toStartOfInterval({column}, toIntervalSecond({{step:UInt32}}))"
# The copies a FINAL here collapses always share a partition (rollups and raw tables are partitioned by day and
# retention, both fixed by a row's key), so FINAL need not merge across partitions: ~30% less CPU per panel.
# (Merging across them would collapse rollup rows that differ only in retention; the one case it no longer
# covers is a raw copy re-delivered after its retention setting changed, which no merge collapses either.)
FINAL_PER_PARTITION = " SETTINGS do_not_merge_across_partitions_select_final = 1"


class TopOrder(StrEnum):
    """How the top-endpoints panels rank (the column names they sort on)."""

    requests = "request_count"
    errors = "errors_5xx"
    p95 = "p95_ms"


@dataclass(frozen=True)
class Scope:
    """What a panel is asked about: [start, end), optionally one service and one endpoint (method + path)."""

    start: datetime
    end: datetime
    service: str | None = None
    endpoint: str | None = None
    method: str | None = None

    @property
    def step_s(self) -> int:
        span = (self.end - self.start).total_seconds()
        floor = HOUR_S if span >= HOURLY_FROM_S else 0
        return next((step for step in STEPS_S if step >= floor and span / step <= MAX_POINTS), STEPS_S[-1])

    @property
    def hourly(self) -> bool:
        """Buckets are unions of whole hours, so whole hours can come from the hourly rollups."""
        return self.step_s % HOUR_S == 0

    def shifted(self, offset: timedelta) -> Scope:
        """The same scope ``offset`` earlier (the previous period a comparison draws)."""
        return replace(self, start=self.start - offset, end=self.end - offset)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"start": self.start, "end": self.end, "step": self.step_s}
        for name in ("service", "endpoint", "method"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return params

    def filters(self, rollup: Rollup | None) -> list[str]:
        """The scope's filters on the rollup's dimensions (all of them for the raw table: ``None``)."""
        names = {"service", "endpoint", "method"} if rollup is None else {n for n, _ in rollup.dimensions}
        return [
            f"{name} = {{{name}:String}}"
            for name in ("service", "endpoint", "method")
            if getattr(self, name) and name in names
        ]

    def where(self, rollup: Rollup | None) -> tuple[str, str]:
        """(rollup WHERE, raw WHERE) selecting the same minutes; filters the rollup lacks are left out."""
        filters = self.filters(rollup)
        on_minute = [f"minute >= toStartOfMinute({_START})", f"minute < {_END}", *filters]
        on_raw = [f"timestamp >= toStartOfMinute({_START})", f"toStartOfMinute(timestamp) < {_END}", *filters]
        return " AND ".join(on_minute), " AND ".join(on_raw)

    def rows(self, rollup: Rollup, finer: Rollup | None = None) -> str:
        """Rows of ``finer``'s shape (default: ``rollup``, a minute rollup) with a ``minute`` column: whole hours
        from the hourly rollup when the buckets allow it, the rest from the minute path."""
        finer = finer or rollup
        if not self.hourly:
            return (
                rolled_up_or_raw(finer, *self.where(rollup))
                if finer.target
                else aggregate_sql(finer, self.where(None)[1])
            )
        rollup_where, raw_where = self.where(rollup if finer.target else None)
        hour_where = " AND ".join(self.filters(rollup)) or "1"
        return hours_and_the_rest(HOURLY[rollup.target], finer, *_WHOLE_HOURS, hour_where, rollup_where, raw_where)

    def service_rows(self) -> str:
        """Rows of the per-service rollups' shape (time column ``minute``): from those rollups, unless an endpoint
        or method is asked for, which only the full-dimension ones know."""
        if self.endpoint or self.method:
            shape = ", ".join(f"{expression} AS {name}" for name, expression in API_SERVICES_SHAPE)
            return f"SELECT minute, {shape} FROM ({self.rows(API_METRICS_1M)})"
        return self.rows(API_SERVICES_1M)


# The minutes a scope covers are [toStartOfMinute(start), the end's minute + 1 minute); the whole hours within.
_WHOLE_HOURS = (
    f"toStartOfHour(toStartOfMinute({_START}) + toIntervalMinute(59))",
    f"toStartOfHour(toStartOfMinute({_END} - toIntervalMillisecond(1)) + toIntervalMinute(1))",
)


def build_requests(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket: requests, 5xx and 4xx answers, p50/p95/p99 latency."""
    bucket = _BUCKET.format(column="minute")
    sql = (
        "SELECT bucket, request_count, errors_5xx, errors_4xx, "
        f"{P50} AS p50_ms, {P95} AS p95_ms, {P99} AS p99_ms FROM ("
        f"SELECT {bucket} AS bucket, sum(requests) AS request_count, sum(errors) AS errors_5xx, "
        f"sum(errors_4xx) AS errors_4xx, {QUANTILES} AS q "
        f"FROM ({scope.service_rows()}) GROUP BY bucket) ORDER BY bucket"
    )
    return sql + FINAL_PER_PARTITION, scope.params()


def build_status_mix(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket and status class (2 = 2xx ...): answers."""
    bucket = _BUCKET.format(column="minute")
    sql = (
        f"SELECT {bucket} AS bucket, status_class, sum(requests) AS request_count "
        f"FROM ({scope.rows(API_METRICS_1M)}) GROUP BY bucket, status_class ORDER BY bucket, status_class"
    )
    return sql + FINAL_PER_PARTITION, scope.params()


def build_ingest(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket and kind: events stored in ClickHouse (the PostgreSQL kinds: :data:`PG_INGEST`)."""
    on_minute = _BUCKET.format(column="minute")
    parts = [
        f"SELECT {on_minute} AS bucket, '{kind}' AS kind, sum({measure}) AS event_count FROM ({rows}) GROUP BY bucket"
        for kind, rows, measure in (
            ("api_metric", scope.service_rows(), "requests"),
            ("log", scope.rows(LOGS_1M), "events"),
            ("system_metric", scope.rows(SYSTEM_METRICS_1M), "samples"),
        )
    ]
    raw_where = scope.where(LOGS_1M)[1]  # blockchain events have a service, no endpoint
    parts.append(
        f"SELECT {_BUCKET.format(column='timestamp')} AS bucket, 'blockchain_event' AS kind, count() AS event_count "
        f"FROM blockchain_events FINAL WHERE {raw_where} GROUP BY bucket"
    )
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY bucket, kind" + FINAL_PER_PARTITION, scope.params()


# The kinds PostgreSQL stores, counted per bucket the same way (buckets aligned to the epoch, as ClickHouse's).
PG_INGEST = (
    "SELECT bucket, kind, count(*) AS event_count FROM ("
    "SELECT to_timestamp(floor(extract(epoch FROM timestamp) / %(step)s) * %(step)s) AS bucket, "
    "'security_event' AS kind FROM security_events "
    "WHERE timestamp >= %(start)s AND timestamp < %(end)s AND (%(service)s::text IS NULL OR service = %(service)s) "
    "UNION ALL SELECT to_timestamp(floor(extract(epoch FROM timestamp) / %(step)s) * %(step)s), 'admin_audit' "
    "FROM admin_audit_logs "
    "WHERE timestamp >= %(start)s AND timestamp < %(end)s AND (%(service)s::text IS NULL OR service = %(service)s)"
    ") stored GROUP BY bucket, kind ORDER BY bucket, kind"
)


def build_endpoints(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Every endpoint (service, method, path): requests, 5xx, 4xx, p50/p95/p99. Unranked: the rankings
    (:func:`top`) of one page share this one query (dashboards/views/overview_panels.py: SharedQueries)."""
    sql = (
        f"SELECT service, method, endpoint, request_count, errors_5xx, errors_4xx, {P50} AS p50_ms, {P95} AS p95_ms, "
        f"{P99} AS p99_ms FROM (SELECT service, method, endpoint, sum(requests) AS request_count, "
        "sum(errors) AS errors_5xx, sum(errors_4xx) AS errors_4xx, "
        f"{QUANTILES} AS q FROM ({scope.rows(API_ENDPOINTS_1M)}) GROUP BY service, method, endpoint) "
        "ORDER BY service, method, endpoint"
    )
    return sql + FINAL_PER_PARTITION, scope.params()


def top(endpoints: pd.DataFrame, order: TopOrder, limit: int = TOP_LIMIT) -> pd.DataFrame:
    """The first ``limit`` endpoints of :func:`build_endpoints`'s rows by ``order``, then by requests, then by
    name (pure)."""
    keys = [TopOrder(order).value, "request_count", "service", "method", "endpoint"]
    ranked = endpoints.sort_values(keys, ascending=[False, False, True, True, True], na_position="last", kind="stable")
    return ranked.head(limit).reset_index(drop=True)


def build_services(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per service and bucket: requests, 5xx, 4xx (the service table sums them and draws them as a spark line),
    and on every row the service's p95 over the whole range, merged from the buckets' states in the same scan."""
    bucket = _BUCKET.format(column="minute")
    sql = (
        "SELECT service, bucket, request_count, errors_5xx, errors_4xx, "
        "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(state) OVER (PARTITION BY service)[3] AS p95_ms FROM ("
        f"SELECT service, {bucket} AS bucket, sum(requests) AS request_count, sum(errors) AS errors_5xx, "
        "sum(errors_4xx) AS errors_4xx, quantilesTDigestMergeState(0.5, 0.9, 0.95, 0.99)(latency_quantiles) AS state "
        f"FROM ({scope.service_rows()}) GROUP BY service, bucket) ORDER BY service, bucket"
    )
    return sql + FINAL_PER_PARTITION, scope.params()


_SEEN_TABLES = ("api_metrics", "logs", "system_metrics", "blockchain_events")


def build_recent_seen(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per service heard in the last hour up to the end of the range: its newest event of any ClickHouse kind, to
    the millisecond, from the raw tables. ``max`` needs no FINAL: a re-delivered copy has the same timestamp."""
    service = " AND service = {service:String}" if scope.service else ""
    recent = f"timestamp >= {_END} - INTERVAL 1 HOUR AND timestamp < {_END}{service}"
    parts = " UNION ALL ".join(
        f"SELECT service, max(timestamp) AS seen FROM {table} WHERE {recent} GROUP BY service" for table in _SEEN_TABLES
    )
    return f"SELECT service, max(seen) AS last_seen FROM ({parts}) GROUP BY service", scope.params()


def build_older_seen(scope: Scope, heard: list[str]) -> tuple[str, dict[str, Any]]:
    """Per service not in ``heard`` (:func:`build_recent_seen`'s services): its newest event in the 30 days before
    that hour (a service that went quiet before the range is exactly the one to notice), to the minute, from the
    minute rollups: service leads their sorting keys, so ``NOT IN`` the heard ones skips their rows through the
    primary index and a month costs nothing while every service is talking. (The heard services travel as a
    parameter: as a subquery, ClickHouse rebuilt their set for each table.) Blockchain events have no rollup."""
    quiet = "service NOT IN {heard:Array(String)}" + (" AND service = {service:String}" if scope.service else "")
    older = f"minute >= {_END} - INTERVAL 30 DAY AND minute < {_END} - INTERVAL 1 HOUR AND {quiet}"
    parts = [
        f"SELECT service, toDateTime64(max(minute), 3, 'UTC') AS seen FROM {rollup.target} WHERE {older} "
        "GROUP BY service"
        for rollup in (API_SERVICES_1M, LOGS_1M, SYSTEM_METRICS_1M)
    ]
    parts.append(
        "SELECT service, max(timestamp) AS seen FROM blockchain_events "
        f"WHERE timestamp >= {_END} - INTERVAL 30 DAY AND timestamp < {_END} - INTERVAL 1 HOUR AND {quiet} "
        "GROUP BY service"
    )
    sql = f"SELECT service, max(seen) AS last_seen FROM ({' UNION ALL '.join(parts)}) GROUP BY service"
    return sql, {**scope.params(), "heard": heard}


def build_sizes(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket: average and largest request and response body. From the hourly rollup's sums (whole hours
    of long ranges) and the raw rows with FINAL (the rest: the minute rollups carry no sizes), so that a
    re-delivered copy does not move the average. The average is sum / count of the bodies with a size."""
    sql = (
        f"SELECT {_BUCKET.format(column='minute')} AS bucket, "
        "sum(request_size_sum) / nullIf(sum(request_size_count), 0) AS request_avg_bytes, "
        "if(sum(request_size_count) = 0, NULL, max(request_size_max)) AS request_max_bytes, "
        "sum(response_size_sum) / nullIf(sum(response_size_count), 0) AS response_avg_bytes, "
        "if(sum(response_size_count) = 0, NULL, max(response_size_max)) AS response_max_bytes "
        f"FROM ({scope.rows(API_METRICS_1M, API_SIZES_1M)}) GROUP BY bucket ORDER BY bucket"
    )
    return sql + FINAL_PER_PARTITION, scope.params()


def build_slowest(scope: Scope, limit: int = SLOWEST_LIMIT) -> tuple[str, dict[str, Any]]:
    """The slowest single requests, with the request id their metadata carries (for the request pivot).

    The rollups find where they are: the ``limit`` buckets (service, endpoint, method, minute or hour) with the
    largest maximum latency, with ties (``LIMIT ... WITH TIES``), are exactly the buckets whose maximum reaches
    ``floor``, the ``limit``-th largest bucket maximum. ``floor`` is at most the ``limit``-th slowest request's
    latency (each of those buckets holds a request that slow), so every answer lies in one of these buckets. Only
    those (service, endpoint, hour)s of the raw table are read (service, endpoint and time lead its sorting key),
    with FINAL (so a re-delivered copy counts once), and ranked by ``ORDER BY ... LIMIT``, which ClickHouse
    materialises lazily: the other columns (the metadata JSON above all) are read for the rows kept only. The
    per-endpoint rollups are read once (an earlier form computed ``floor`` apart and read the raw table twice).
    """
    _, raw_where = scope.where(None)
    candidates = (
        f"SELECT service, endpoint, toStartOfHour(minute) FROM ({scope.rows(API_ENDPOINTS_1M)}) "
        "ORDER BY latency_max_ms DESC LIMIT {limit:UInt32} WITH TIES"
    )
    sql = (
        "SELECT timestamp, service, method, endpoint, status_code, response_time_ms, instance, "
        "JSONExtractString(metadata, 'request_id') AS request_id, toString(event_id) AS event_id "
        f"FROM api_metrics FINAL WHERE {raw_where} AND (service, endpoint, toStartOfHour(timestamp)) IN ({candidates}) "
        "ORDER BY response_time_ms DESC, event_id LIMIT {limit:UInt32}"
    )
    return sql + FINAL_PER_PARTITION, {**scope.params(), "limit": limit}


ROLLUP_AGE = "SELECT max(processed_until) AS processed_until FROM rollup_progress"


def frame(client: Client, built: tuple[str, dict[str, Any]]) -> pd.DataFrame:
    return client.query_df(built[0], parameters=built[1])


def pg_ingest_frame(conn: psycopg.Connection, scope: Scope) -> pd.DataFrame:
    params = {"start": scope.start, "end": scope.end, "step": scope.step_s, "service": scope.service}
    rows = conn.execute(PG_INGEST, params).fetchall()
    return pd.DataFrame(rows, columns=["bucket", "kind", "event_count"])


def rollup_processed_until(client: Client) -> datetime | None:
    value = client.query(ROLLUP_AGE).result_rows[0][0]
    return None if value is None or value.year < 1971 else value
