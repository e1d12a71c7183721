"""The overview and API-metrics panels' queries. Building SQL is pure; each ``*_frame`` runs one query and
hands a pandas frame to the panel (clickhouse-connect's ``query_df``), which shapes it (dashboards/shaping.py).

Aggregates read :func:`rolled_up_or_raw`: rolled-up minutes from the per-minute rollups (migration 0006),
minutes not rolled up yet from the raw tables, so every range is exact and a range of days reads ~1,000 times
fewer rows than the raw table holds. Percentiles merge the rollups' t-digest states
(``quantilesTDigestMerge``), so a percentile over a day is a percentile of the day's requests, not an average
of per-minute percentiles. Only what the rollups cannot answer (sizes, single slowest requests, the last
event seen) reads the raw tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pandas as pd
import psycopg
from clickhouse_connect.driver.client import Client

from warehouse.queries.rollups import API_METRICS_1M, LOGS_1M, SYSTEM_METRICS_1M, Rollup, rolled_up_or_raw

# The rollups hold these levels (migration 0006); a merge must name the same ones.
QUANTILES = "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_quantiles)"
P50, P95, P99 = "q[1]", "q[3]", "q[4]"
# Readable steps, at most ~120 points per line; never below the rollups' minute.
STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 120
TOP_LIMIT = 10
SLOWEST_LIMIT = 20
_START = "{start:DateTime64(3, 'UTC')}"
_END = "{end:DateTime64(3, 'UTC')}"
_BUCKET = "toStartOfInterval({column}, toIntervalSecond({{step:UInt32}}))"


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
        return next((step for step in STEPS_S if span / step <= MAX_POINTS), STEPS_S[-1])

    def shifted(self, offset: timedelta) -> Scope:
        """The same scope ``offset`` earlier (the previous period a comparison draws)."""
        return replace(self, start=self.start - offset, end=self.end - offset)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"start": self.start, "end": self.end, "step": self.step_s}
        for name in ("service", "endpoint", "method"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return params

    def where(self, rollup: Rollup | None) -> tuple[str, str]:
        """(rollup WHERE, raw WHERE) selecting the same minutes; filters the rollup lacks are left out."""
        names = {"service", "endpoint", "method"} if rollup is None else {n for n, _ in rollup.dimensions}
        on_minute = [f"minute >= toStartOfMinute({_START})", f"minute < {_END}"]
        on_raw = [f"timestamp >= toStartOfMinute({_START})", f"toStartOfMinute(timestamp) < {_END}"]
        for name in ("service", "endpoint", "method"):
            if getattr(self, name) and name in names:
                on_minute.append(f"{name} = {{{name}:String}}")
                on_raw.append(f"{name} = {{{name}:String}}")
        return " AND ".join(on_minute), " AND ".join(on_raw)

    def rows(self, rollup: Rollup) -> str:
        return rolled_up_or_raw(rollup, *self.where(rollup))


def build_requests(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket: requests, 5xx and 4xx answers, p50/p95/p99 latency."""
    bucket = _BUCKET.format(column="minute")
    sql = (
        "SELECT bucket, request_count, errors_5xx, errors_4xx, "
        f"{P50} AS p50_ms, {P95} AS p95_ms, {P99} AS p99_ms FROM ("
        f"SELECT {bucket} AS bucket, sum(requests) AS request_count, sumIf(requests, status_class = 5) AS errors_5xx, "
        f"sumIf(requests, status_class = 4) AS errors_4xx, {QUANTILES} AS q "
        f"FROM ({scope.rows(API_METRICS_1M)}) GROUP BY bucket) ORDER BY bucket"
    )
    return sql, scope.params()


def build_status_mix(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket and status class (2 = 2xx ...): answers."""
    bucket = _BUCKET.format(column="minute")
    sql = (
        f"SELECT {bucket} AS bucket, status_class, sum(requests) AS request_count "
        f"FROM ({scope.rows(API_METRICS_1M)}) GROUP BY bucket, status_class ORDER BY bucket, status_class"
    )
    return sql, scope.params()


def build_ingest(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket and kind: events stored in ClickHouse (the PostgreSQL kinds: :data:`PG_INGEST`)."""
    on_minute = _BUCKET.format(column="minute")
    parts = [
        f"SELECT {on_minute} AS bucket, '{kind}' AS kind, sum({measure}) AS event_count FROM ({scope.rows(rollup)}) "
        "GROUP BY bucket"
        for kind, rollup, measure in (
            ("api_metric", API_METRICS_1M, "requests"),
            ("log", LOGS_1M, "events"),
            ("system_metric", SYSTEM_METRICS_1M, "samples"),
        )
    ]
    raw_where = scope.where(LOGS_1M)[1]  # blockchain events have a service, no endpoint
    parts.append(
        f"SELECT {_BUCKET.format(column='timestamp')} AS bucket, 'blockchain_event' AS kind, count() AS event_count "
        f"FROM blockchain_events FINAL WHERE {raw_where} GROUP BY bucket"
    )
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY bucket, kind", scope.params()


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


def build_top(scope: Scope, order: TopOrder, limit: int = TOP_LIMIT) -> tuple[str, dict[str, Any]]:
    """Endpoints (service, method, path) ranked by ``order``: requests, 5xx, 4xx, p50/p95/p99."""
    sql = (
        f"SELECT service, method, endpoint, request_count, errors_5xx, errors_4xx, {P50} AS p50_ms, {P95} AS p95_ms, "
        f"{P99} AS p99_ms FROM (SELECT service, method, endpoint, sum(requests) AS request_count, "
        "sumIf(requests, status_class = 5) AS errors_5xx, sumIf(requests, status_class = 4) AS errors_4xx, "
        f"{QUANTILES} AS q FROM ({scope.rows(API_METRICS_1M)}) GROUP BY service, method, endpoint) "
        f"ORDER BY {TopOrder(order).value} DESC, request_count DESC, service, method, endpoint LIMIT {{limit:UInt32}}"
    )
    return sql, {**scope.params(), "limit": limit}


def build_services(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per service and bucket: requests, 5xx, 4xx (the service table sums them and draws them as a spark line)."""
    bucket = _BUCKET.format(column="minute")
    sql = (
        f"SELECT service, {bucket} AS bucket, sum(requests) AS request_count, "
        "sumIf(requests, status_class = 5) AS errors_5xx, "
        "sumIf(requests, status_class = 4) AS errors_4xx "
        f"FROM ({scope.rows(API_METRICS_1M)}) GROUP BY service, bucket ORDER BY service, bucket"
    )
    return sql, scope.params()


def build_service_latency(scope: Scope) -> tuple[str, dict[str, Any]]:
    sql = (
        f"SELECT service, {P95} AS p95_ms FROM (SELECT service, {QUANTILES} AS q "
        f"FROM ({scope.rows(API_METRICS_1M)}) GROUP BY service) ORDER BY service"
    )
    return sql, scope.params()


def build_last_seen(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per service: its newest event of any ClickHouse kind up to the end of the range, looking back 30 days
    (not only in the range: a service that went quiet before it is exactly the one to notice).

    The last hour comes from the raw tables, to the millisecond; older minutes from the rollups (the minute
    itself), which are ~1,000 times smaller than the raw tables, so a quiet service costs no scan of a month
    of raw rows. Blockchain events have no rollup (they are few). ``max`` needs no FINAL: a re-delivered
    copy has the same timestamp.
    """
    service = " AND service = {service:String}" if scope.service else ""
    recent = f"timestamp >= {_END} - INTERVAL 1 HOUR AND timestamp < {_END}{service}"
    older = f"minute >= {_END} - INTERVAL 30 DAY AND minute < {_END} - INTERVAL 1 HOUR{service}"
    parts = [
        f"SELECT service, max(timestamp) AS seen FROM {table} WHERE {recent} GROUP BY service"
        for table in ("api_metrics", "logs", "system_metrics")
    ]
    parts += [
        f"SELECT service, toDateTime64(max(minute), 3, 'UTC') AS seen FROM {rollup.target} WHERE {older} "
        "GROUP BY service"
        for rollup in (API_METRICS_1M, LOGS_1M, SYSTEM_METRICS_1M)
    ]
    parts.append(
        "SELECT service, max(timestamp) AS seen FROM blockchain_events "
        f"WHERE timestamp >= {_END} - INTERVAL 30 DAY AND timestamp < {_END}{service} GROUP BY service"
    )
    return f"SELECT service, max(seen) AS last_seen FROM ({' UNION ALL '.join(parts)}) GROUP BY service", scope.params()


def build_sizes(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Per bucket: average and largest request and response body. The rollups do not carry sizes, so this
    reads the raw rows, with FINAL so that a re-delivered copy does not move the average."""
    _, raw_where = scope.where(None)
    sql = (
        f"SELECT {_BUCKET.format(column='timestamp')} AS bucket, avg(request_size_bytes) AS request_avg_bytes, "
        "max(request_size_bytes) AS request_max_bytes, avg(response_size_bytes) AS response_avg_bytes, "
        "max(response_size_bytes) AS response_max_bytes "
        f"FROM api_metrics FINAL WHERE {raw_where} GROUP BY bucket ORDER BY bucket"
    )
    return sql, scope.params()


def build_slowest(scope: Scope, limit: int = SLOWEST_LIMIT) -> tuple[str, dict[str, Any]]:
    """The slowest single requests, with the request id their metadata carries (for the request pivot).

    The ranking reads only the sorting key and the latency; the rows it keeps are then fetched by their full
    sorting key (an index lookup), so the metadata JSON is read and parsed for those rows only, not for every
    request of the range (half the time over 7 days in bench/dashboards.py's data). FINAL is not needed: a
    re-delivered copy has the same event_id, and LIMIT 1 BY event_id keeps one row per id.
    """
    _, raw_where = scope.where(None)
    top = (
        f"SELECT service, endpoint, timestamp, event_id FROM api_metrics WHERE {raw_where} "
        "ORDER BY response_time_ms DESC, event_id LIMIT 1 BY event_id LIMIT {limit:UInt32}"
    )
    sql = (
        "SELECT timestamp, service, method, endpoint, status_code, response_time_ms, instance, "
        "JSONExtractString(metadata, 'request_id') AS request_id, toString(event_id) AS event_id "
        f"FROM api_metrics WHERE (service, endpoint, timestamp, event_id) IN ({top}) "
        "ORDER BY response_time_ms DESC, event_id LIMIT 1 BY event_id LIMIT {limit:UInt32}"
    )
    return sql, {**scope.params(), "limit": limit}


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
