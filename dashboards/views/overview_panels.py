"""The overview and API-metrics panels: frames from the query layer (warehouse/queries/overview.py) shaped
with pandas into the answer models (figure and/or table, plus the rows), and the plumbing every panel
shares (the scope from the query, the panel cache, CSV). Shaping is pure: frames in, models out.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
import pandas as pd
from flask import Blueprint, Response, request
from flask_login import current_user

from alerts import platform
from dashboards import charts, shaping
from dashboards.api_spec import ApiSpec
from dashboards.charts import Chart, Series, Threshold
from dashboards.models import overview as models
from dashboards.models.panels import Cell, Column, Figure, Table
from dashboards.timerange import TimeRange, parse_range
from dashboards.views.common import services
from warehouse import clickhouse
from warehouse.queries import overview as queries
from warehouse.queries.overview import Scope

# The seed plan's goal for API response times ("Sub-200ms API response times").
LATENCY_TARGET_MS = 200.0
COMPARE_OFFSETS = {"1d": timedelta(days=1), "1w": timedelta(weeks=1)}
CACHE_HEADER = "X-Lookout-Cache"
KIND_ORDER = ("api_metric", "log", "system_metric", "blockchain_event", "security_event", "admin_audit")
KIND_LABELS = {
    "api_metric": "API metrics",
    "log": "Logs",
    "system_metric": "System metrics",
    "blockchain_event": "Blockchain events",
    "security_event": "Security events",
    "admin_audit": "Admin audit",
}


# ---------------------------------------------------------------------------------------------- plumbing

Build = Callable[[Scope, Any], models.Panel]  # (scope, the panel's own query model) -> answer
# (API rule, endpoint name, summary, query model, response model, builder): one JSON API operation per panel.
Declared = tuple[str, str, str, type[models.PanelQuery], type[models.Panel], Build]


def declare(api: Blueprint, spec: ApiSpec, tag: str, declared: Iterable[Declared]) -> None:
    """Register each panel as a GET operation answering through :func:`serve`, in the OpenAPI document."""
    for rule, endpoint, summary, query_model, response, build in declared:

        def view(query: models.PanelQuery, rule: str = rule, build: Build = build) -> Response:
            return serve(rule, query, build)

        view.__name__ = endpoint
        spec.operation(
            api, rule, "GET", summary=f"{summary} (format=csv: its rows as CSV)", role="viewer", tag=tag,
            query=query_model, response=response,
        )(view)  # fmt: skip


def span_of(query: models.PanelQuery, now: datetime) -> TimeRange:
    return parse_range(query.from_, query.to, now)


def scope_of(query: models.PanelQuery, now: datetime) -> Scope:
    span = span_of(query, now)
    return Scope(span.start, span.end, query.service, query.endpoint, query.method)


def whole_second(now: datetime) -> datetime:
    """``now`` rounded up to a whole second: the panels of one page, asked within a few milliseconds, then ask
    for the same relative range, so identical queries among them run once (:class:`SharedQueries`)."""
    floor = now.replace(microsecond=0)
    return floor if floor == now else floor + timedelta(seconds=1)


class SharedQueries:
    """Identical queries asked at the same time run once. A page asks for all its panels at once and several
    run the same SQL (the overview's request rate, errors and latency; its three endpoint rankings; the API
    page's latency and errors with their previous periods): the first asker runs it, the others wait for its
    frame. Nothing is kept once it is answered (the panel cache keeps answers). The key holds the viewer's role,
    as the panel cache's does, so no answer ever crosses roles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str, str], Future[pd.DataFrame]] = {}

    @staticmethod
    def key_of(built: tuple[str, dict[str, Any]]) -> tuple[str, str]:
        return built[0], repr(sorted(built[1].items()))

    def frame(self, role: str, built: tuple[str, dict[str, Any]], run: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        key = (role, *self.key_of(built))
        with self._lock:
            running = self._running.get(key)
            if running is None:
                self._running[key] = future = Future()
        if running is not None:
            return running.result().copy()  # each panel shapes its own copy
        try:
            future.set_result(run())
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._running[key]
        return future.result().copy()


SHARED = SharedQueries()


FrameRunner = Callable[[tuple[str, dict[str, Any]]], pd.DataFrame]


def frame_runner() -> FrameRunner:
    """:func:`frame` bound to this request's role and services, so another thread can run it
    (:data:`ALONGSIDE`; each thread keeps its own ClickHouse client)."""
    role, lookout = current_user.role, services()
    return lambda built: SHARED.frame(role, built, lambda: queries.frame(lookout.warehouse(), built))


def frame(built: tuple[str, dict[str, Any]]) -> pd.DataFrame:
    """The query's rows, run once for every panel of the request's role asking for them at the same time."""
    return frame_runner()(built)


# A panel whose statements do not depend on each other (a comparison's two periods; the services table's counts
# beside its last-event look-up) runs the others here while its own thread runs the first: on an idle machine the
# panel then takes its slowest statement's time, not their sum.
ALONGSIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="panel-query")


def serve(panel: str, query: models.PanelQuery, build: Build) -> Response:
    """The panel's answer through the panel cache (per role), as JSON or, with ``format=csv``, its rows as CSV.
    ``X-Lookout-Cache: hit|miss`` says which, so a script (and a test) can tell."""

    def compute() -> bytes:
        with clickhouse.translated():  # a value the warehouse cannot hold is a 400, not a 500
            answer = build(scope_of(query, whole_second(datetime.now(UTC))), query)
        if query.format == "csv":
            rows = [row.model_dump() for row in answer.data]  # type: ignore[attr-defined]
            return shaping.to_csv(pd.DataFrame(rows)).encode()
        return orjson.dumps(answer.model_dump(mode="json"))

    body, hit = services().panel_cache.get_or_compute(
        panel, request.args.to_dict(), current_user.role, time.time(), compute
    )
    if query.format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="{panel.replace("/", "-")}.csv"'}
        out = Response(body, mimetype="text/csv", headers=headers)
    else:
        out = Response(body, mimetype="application/json")
    out.headers[CACHE_HEADER] = "hit" if hit else "miss"
    return out


SERVER_ERRORS = "status_code:>=500"
CLIENT_ERRORS = "status_code:>=400 status_code:<500"


def explore_url(span: TimeRange, extra: str = "", **terms: str | None) -> str:
    """The explorer with the matching query (the explorer is another area: a plain path, not url_for)."""
    parts = []
    for name, value in terms.items():
        if value is not None:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{name}:"{escaped}"')
    if extra:
        parts.append(extra)
    return "/explore?" + urlencode({"q": " ".join(parts), "from": span.raw_from, "to": span.raw_to})


def pivot_url(request_id: str) -> str:
    return "/explore?" + urlencode({"pivot": request_id})


def _utc(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


def _with(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``frame`` with every named column: an empty result can come back without its columns."""
    missing = [c for c in columns if c not in frame.columns]
    return frame.assign(**{c: pd.Series(dtype="float64") for c in missing}) if missing else frame


def _num(value: Any) -> float | None:
    """A JSON-safe number: NaN (an empty bucket) becomes null."""
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _rate(part: Any, whole: Any) -> float | None:
    return 100.0 * float(part) / float(whole) if whole else None


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _latency_tone(value: float | None) -> str | None:
    return None if value is None else "danger" if value > LATENCY_TARGET_MS else "ok"


def _figure(chart: Chart) -> Figure:
    return Figure.model_validate(charts.figure(chart))


# ---------------------------------------------------------------------------------------------- requests


def request_points(frame: pd.DataFrame, scope: Scope) -> list[models.RequestPoint]:
    zero = ("request_count", "errors_5xx", "errors_4xx")
    frame = _with(frame, "bucket", *zero, "p50_ms", "p95_ms", "p99_ms")
    shaped = shaping.fill_gaps(frame, scope.start, scope.end, scope.step_s, zero=zero)
    return [
        models.RequestPoint(
            bucket=_utc(row.bucket),
            request_count=int(row.request_count),
            errors_5xx=int(row.errors_5xx),
            errors_4xx=int(row.errors_4xx),
            requests_per_s=float(row.request_count) / scope.step_s,
            error_rate_5xx=_rate(row.errors_5xx, row.request_count),
            error_rate_4xx=_rate(row.errors_4xx, row.request_count),
            p50_ms=_num(row.p50_ms) if row.request_count else None,
            p95_ms=_num(row.p95_ms) if row.request_count else None,
            p99_ms=_num(row.p99_ms) if row.request_count else None,
        )
        for row in shaped.itertuples()
    ]


def rate_chart(points: list[models.RequestPoint]) -> Chart:
    x = [p.bucket for p in points]
    return Chart([Series("requests/s", x, [p.requests_per_s for p in points], kind="area")], unit="req/s")


def error_chart(points: list[models.RequestPoint]) -> Chart:
    x = [p.bucket for p in points]
    return Chart(
        [
            Series("5xx", x, [p.error_rate_5xx for p in points], colour=charts.STATUS_COLOURS["5xx"]),
            Series("4xx", x, [p.error_rate_4xx for p in points], colour=charts.STATUS_COLOURS["4xx"]),
        ],
        unit="%",
    )


def latency_chart(points: list[models.RequestPoint]) -> Chart:
    x = [p.bucket for p in points]
    return Chart(
        [
            Series("p50", x, [p.p50_ms for p in points], colour=charts.PALETTE[2]),
            Series("p95", x, [p.p95_ms for p in points], colour=charts.PALETTE[0]),
            Series("p99", x, [p.p99_ms for p in points], colour=charts.PALETTE[3]),
        ],
        unit="ms",
        thresholds=[Threshold(LATENCY_TARGET_MS, f"target {LATENCY_TARGET_MS:.0f} ms")],
    )


def requests_panel(frame: pd.DataFrame, scope: Scope, chart: Callable[[list], Chart]) -> models.RequestsPanel:
    points = request_points(frame, scope)
    return models.RequestsPanel(figure=_figure(chart(points)), data=points, step_s=scope.step_s)


# ---------------------------------------------------------------------------------------------- ingest, status


def ingest_panel(frames: Iterable[pd.DataFrame], scope: Scope) -> models.IngestPanel:
    """Events stored per kind per bucket (ClickHouse and PostgreSQL kinds), as stacked bars."""
    parts = [f for f in frames if len(f)]
    both = pd.concat(parts) if parts else pd.DataFrame({"bucket": [], "kind": [], "event_count": []})
    both["bucket"] = pd.to_datetime(both["bucket"], utc=True).dt.tz_localize(None)
    both = both.groupby(["bucket", "kind"], as_index=False)["event_count"].sum()
    data = [
        models.KindPoint(bucket=_utc(row.bucket), kind=str(row.kind), event_count=int(row.event_count))
        for row in both.sort_values(["bucket", "kind"]).itertuples()
    ]
    x = shaping.buckets(scope.start, scope.end, scope.step_s)
    series = []
    for i, kind in enumerate(k for k in KIND_ORDER if k in set(both["kind"])):
        counts = both[both["kind"] == kind].set_index("bucket")["event_count"].reindex(x, fill_value=0)
        series.append(
            Series(KIND_LABELS[kind], [_utc(b) for b in x], [int(c) for c in counts], charts.PALETTE[i], "bar")
        )
    figure = _figure(Chart(series, unit="events", stacked=True)) if series else None
    return models.IngestPanel(figure=figure, data=data, step_s=scope.step_s)


def status_panel(frame: pd.DataFrame, scope: Scope) -> models.StatusPanel:
    frame = _with(frame, "bucket", "status_class", "request_count")
    data = [
        models.StatusPoint(
            bucket=_utc(row.bucket), status_class=f"{int(row.status_class)}xx", request_count=int(row.request_count)
        )
        for row in frame.itertuples()
    ]
    x = shaping.buckets(scope.start, scope.end, scope.step_s)
    series = []
    for name, colour in charts.STATUS_COLOURS.items():
        rows = frame[frame["status_class"] == int(name[0])]
        if not len(rows):
            continue
        counts = rows.set_index(pd.to_datetime(rows["bucket"]))["request_count"].reindex(x, fill_value=0)
        series.append(Series(name, [_utc(b) for b in x], [int(c) for c in counts], colour=colour, kind="bar"))
    figure = _figure(Chart(series, unit="requests", stacked=True)) if series else None
    return models.StatusPanel(figure=figure, data=data, step_s=scope.step_s)


# ---------------------------------------------------------------------------------------------- tables


def endpoint_rows(frame: pd.DataFrame) -> list[models.EndpointRow]:
    return [
        models.EndpointRow(
            service=str(row.service),
            method=str(row.method),
            endpoint=str(row.endpoint),
            request_count=int(row.request_count),
            errors_5xx=int(row.errors_5xx),
            errors_4xx=int(row.errors_4xx),
            p50_ms=_num(row.p50_ms),
            p95_ms=_num(row.p95_ms),
            p99_ms=_num(row.p99_ms),
        )
        for row in frame.itertuples()
    ]


def endpoints_panel(
    frame: pd.DataFrame, scope: Scope, span: TimeRange, select: Callable[[models.EndpointRow], str] | None = None
) -> models.EndpointsPanel:
    """Endpoints with their numbers, each linking to the explorer; ``select`` (the API page) makes the endpoint's
    name open its own charts instead."""
    rows = endpoint_rows(frame)
    columns = [
        Column(key="service", label="Service"),
        Column(key="endpoint", label="Endpoint"),
        Column(key="requests", label="Requests", align="right"),
        Column(key="errors", label="5xx", align="right"),
        Column(key="client_errors", label="4xx", align="right"),
        Column(key="p95", label="p95", align="right"),
        Column(key="p99", label="p99", align="right"),
    ]
    table_rows = []
    for row in rows:
        terms = {"service": row.service, "method": row.method, "endpoint": row.endpoint}
        name = f"{row.method} {row.endpoint}"
        table_rows.append({
            "service": Cell(text=row.service, href=explore_url(span, service=row.service)),
            "endpoint": Cell(
                text=name, title=f"{row.service}: {name}",
                href=select(row) if select else explore_url(span, **terms),
            ),
            "requests": Cell(text=_count(row.request_count), href=explore_url(span, **terms)),
            "errors": Cell(
                text=_count(row.errors_5xx), href=explore_url(span, **terms, extra=SERVER_ERRORS),
                tone="danger" if row.errors_5xx else "muted",
                title=f"{_rate(row.errors_5xx, row.request_count) or 0:.2f}% of requests",
            ),
            "client_errors": Cell(
                text=_count(row.errors_4xx), href=explore_url(span, **terms, extra=CLIENT_ERRORS),
                tone="warn" if row.errors_4xx else "muted",
            ),
            "p95": Cell(text=_ms(row.p95_ms), tone=_latency_tone(row.p95_ms), href=explore_url(span, **terms)),
            "p99": Cell(text=_ms(row.p99_ms), tone=_latency_tone(row.p99_ms), href=explore_url(span, **terms)),
        })  # fmt: skip
    table = Table(columns=columns, rows=table_rows, empty="No API requests in this range. Ship api_metric events.")
    return models.EndpointsPanel(table=table, data=rows, step_s=scope.step_s)


# A fleet of hundreds of services: the busiest are drawn, the rest are a click away (the data has them all).
SERVICES_SHOWN = 25


def services_panel(
    per_bucket: pd.DataFrame, last_seen: pd.DataFrame, scope: Scope, span: TimeRange
) -> models.ServicesPanel:
    """``per_bucket``: :func:`~warehouse.queries.overview.build_services`'s rows (each with its service's p95)."""
    zero = ("request_count", "errors_5xx", "errors_4xx")
    per_bucket = _with(per_bucket, "service", "bucket", *zero, "p95_ms")
    p95 = {str(r.service): _num(r.p95_ms) for r in per_bucket.drop_duplicates("service").itertuples()}
    per_bucket = per_bucket.drop(columns="p95_ms")
    shaped = shaping.fill_gaps(per_bucket, scope.start, scope.end, scope.step_s, by=("service",), zero=zero)
    seen = {str(r.service): _utc(r.last_seen) for r in last_seen.itertuples() if not pd.isna(r.last_seen)}
    seconds = (scope.end - scope.start).total_seconds()
    rows = []
    for service, group in shaped.groupby("service", sort=True):
        total = int(group["request_count"].sum())
        rows.append(
            models.ServiceRow(
                service=str(service),
                request_count=total,
                requests_per_s=total / seconds,
                errors_5xx=int(group["errors_5xx"].sum()),
                errors_4xx=int(group["errors_4xx"].sum()),
                p95_ms=p95.get(str(service)),
                last_seen=seen.get(str(service)),
                spark=[float(v) / scope.step_s for v in group["request_count"]],
            )
        )
    # The busiest first: on a platform with hundreds of services the ones that carry the traffic lead.
    rows.sort(key=lambda row: (-row.request_count, row.service))
    # Services that only log (no API metrics) are services too.
    for service in sorted(set(seen) - {r.service for r in rows}):
        rows.append(
            models.ServiceRow(
                service=service, request_count=0, requests_per_s=0.0, errors_5xx=0, errors_4xx=0, p95_ms=None,
                last_seen=seen[service], spark=[],
            )
        )  # fmt: skip
    columns = [
        Column(key="service", label="Service"),
        Column(key="rate", label="Requests/s", align="right"),
        Column(key="errors", label="5xx", align="right"),
        Column(key="client_errors", label="4xx", align="right"),
        Column(key="p95", label="p95", align="right"),
        Column(key="seen", label="Last event"),
    ]
    table_rows = [
        {
            "service": Cell(text=row.service, href=explore_url(span, service=row.service)),
            "rate": Cell(
                text=f"{row.requests_per_s:,.2f}",
                spark=row.spark or None,
                href=explore_url(span, service=row.service),
                title=f"{row.request_count:,} requests",
            ),
            "errors": Cell(
                text=_count(row.errors_5xx),
                href=explore_url(span, service=row.service, extra=SERVER_ERRORS),
                tone="danger" if row.errors_5xx else "muted",
            ),
            "client_errors": Cell(
                text=_count(row.errors_4xx),
                href=explore_url(span, service=row.service, extra=CLIENT_ERRORS),
                tone="warn" if row.errors_4xx else "muted",
            ),
            "p95": Cell(text=_ms(row.p95_ms), tone=_latency_tone(row.p95_ms)),
            "seen": Cell(
                text=row.last_seen.strftime("%Y-%m-%d %H:%M:%S UTC") if row.last_seen else "never",
                href=explore_url(span, service=row.service),
                tone=None if row.last_seen else "muted",
            ),
        }  # fmt: skip
        for row in rows
    ]
    table = Table(columns=columns, rows=table_rows, empty="No service has sent events in this range.",
                  shown=SERVICES_SHOWN)
    return models.ServicesPanel(table=table, data=rows, step_s=scope.step_s)


# ---------------------------------------------------------------------------------------------- API metrics


def compared_panel(
    current: pd.DataFrame, previous: pd.DataFrame | None, scope: Scope, offset: str, metric: str
) -> models.ComparedPanel:
    """``metric`` ("latency" or "errors") now, solid, and the previous period moved onto this one, dashed."""
    points = request_points(current, scope)
    before: list[models.RequestPoint] = []
    if previous is not None:
        shifted = scope.shifted(COMPARE_OFFSETS[offset])
        moved = request_points(previous, shifted)
        before = [p.model_copy(update={"bucket": p.bucket + COMPARE_OFFSETS[offset]}) for p in moved]
    data = [
        models.ComparedPoint(
            bucket=p.bucket, period=period, request_count=p.request_count, p50_ms=p.p50_ms, p95_ms=p.p95_ms,
            p99_ms=p.p99_ms, error_rate_5xx=p.error_rate_5xx, error_rate_4xx=p.error_rate_4xx,
        )
        for period, group in (("current", points), ("previous", before))
        for p in group
    ]  # fmt: skip
    chart = latency_chart(points) if metric == "latency" else error_chart(points)
    series = list(chart.series)
    if before:
        x = [p.bucket for p in before]
        label = "a day" if offset == "1d" else "a week"
        if metric == "latency":
            values = [("p95", [p.p95_ms for p in before], charts.PALETTE[0])]
        else:
            values = [("5xx", [p.error_rate_5xx for p in before], charts.STATUS_COLOURS["5xx"])]
        series += [Series(f"{name} {label} earlier", x, y, colour=c, dash="dash") for name, y, c in values]
    figure = _figure(Chart(series, unit=chart.unit, thresholds=chart.thresholds))
    return models.ComparedPanel(figure=figure, data=data, step_s=scope.step_s, offset=offset)


def sizes_panel(frame: pd.DataFrame, scope: Scope) -> models.SizesPanel:
    frame = _with(frame, "bucket", "request_avg_bytes", "request_max_bytes", "response_avg_bytes", "response_max_bytes")
    shaped = shaping.fill_gaps(frame, scope.start, scope.end, scope.step_s)
    data = [
        models.SizePoint(
            bucket=_utc(row.bucket),
            request_avg_bytes=_num(row.request_avg_bytes),
            request_max_bytes=None if _num(row.request_max_bytes) is None else int(row.request_max_bytes),
            response_avg_bytes=_num(row.response_avg_bytes),
            response_max_bytes=None if _num(row.response_max_bytes) is None else int(row.response_max_bytes),
        )
        for row in shaped.itertuples()
    ]
    x = [p.bucket for p in data]
    chart = Chart(
        [
            Series("request (avg)", x, [p.request_avg_bytes for p in data], colour=charts.PALETTE[0]),
            Series("response (avg)", x, [p.response_avg_bytes for p in data], colour=charts.PALETTE[1]),
        ],
        unit="B",
    )
    return models.SizesPanel(figure=_figure(chart), data=data, step_s=scope.step_s)


def slowest_panel(frame: pd.DataFrame, scope: Scope) -> models.SlowestPanel:
    rows = [
        models.SlowRequest(
            timestamp=_utc(row.timestamp), service=str(row.service), method=str(row.method),
            endpoint=str(row.endpoint), status_code=int(row.status_code), response_time_ms=float(row.response_time_ms),
            instance=str(row.instance), request_id=str(row.request_id), event_id=str(row.event_id),
        )
        for row in frame.itertuples()
    ]  # fmt: skip
    columns = [
        Column(key="time", label="Time (UTC)"),
        Column(key="endpoint", label="Endpoint"),
        Column(key="status", label="Status", align="right"),
        Column(key="duration", label="Duration", align="right"),
        Column(key="request", label="Request id"),
    ]
    table_rows = [
        {
            "time": Cell(text=row.timestamp.strftime("%Y-%m-%d %H:%M:%S")),
            "endpoint": Cell(text=f"{row.method} {row.endpoint}", title=f"{row.service} on {row.instance}"),
            "status": Cell(text=str(row.status_code), tone="danger" if row.status_code >= 500 else None),
            "duration": Cell(text=_ms(row.response_time_ms), tone=_latency_tone(row.response_time_ms)),
            "request": (
                Cell(text=row.request_id, href=pivot_url(row.request_id), title="everything this request did")
                if row.request_id
                else Cell(text="none sent", tone="muted")
            ),
        }  # fmt: skip
        for row in rows
    ]
    table = Table(columns=columns, rows=table_rows, empty="No requests in this range.")
    return models.SlowestPanel(table=table, data=rows, step_s=scope.step_s)


# ---------------------------------------------------------------------------------------------- platform health


def health_items(
    texts: list[str],
    previous: Mapping[str, float] | None,
    now_s: float,
    processed_until: datetime | None,
    now: datetime,
    interval_s: float,
) -> tuple[list[models.HealthItem], dict[str, float]]:
    """The platform's own health from its Prometheus expositions (the collector's and the pipeline's):
    counters as rates since ``previous`` (the last scrape, remembered by the caller), gauges as they are.
    Returns the items and the sample to remember."""

    def counter(family: str) -> float | None:
        found = platform.samples(texts, family, counter=True)
        return sum(v for _, v in found) if found else None

    sample = {"t": now_s}
    items = []
    for key, family, label in (
        ("accepted", "lookout_collector_events_accepted", "Collector accepted"),
        ("rejected", "lookout_collector_events_rejected", "Collector rejected"),
        ("dead_letters", "lookout_pipeline_dead_letters", "Dead letters"),
    ):
        value = counter(family)
        if value is None and key == "rejected" and "accepted" in sample:
            # A labelled counter appears at its first increment: a collector that exports what it accepted
            # and no rejection has rejected nothing yet.
            value = 0.0
        rate = None
        if value is not None:
            sample[key] = value
            if previous and key in previous and now_s > previous["t"] and value >= previous[key]:
                rate = (value - previous[key]) / (now_s - previous["t"])
        detail = "no source exports it" if value is None else f"{value:,.0f} since start"
        items.append(models.HealthItem(key=key, label=label, value=rate, unit="events/s", detail=detail))
    lag: dict[str, float] = {}
    for labels, value in platform.samples(texts, "lookout_pipeline_consumer_lag", counter=False):
        topic = f"{labels.get('sink', '?')} · {labels.get('topic', '?')}"
        lag[topic] = lag.get(topic, 0.0) + value
    for topic in sorted(lag):
        items.append(models.HealthItem(key="lag", label=f"Lag {topic}", value=lag[topic], unit="records"))
    paused_samples = platform.samples(texts, "lookout_pipeline_sink_paused", counter=False)
    paused = [labels.get("sink", "?") for labels, value in paused_samples if value]
    items.append(
        models.HealthItem(
            key="paused", label="Sinks paused", value=float(len(paused)), unit="sinks", detail=", ".join(paused)
        )
    )
    age = None if processed_until is None else max(0.0, (now - _utc(processed_until)).total_seconds())
    items.append(
        models.HealthItem(
            key="rollup_age", label="Rollups behind", value=age, unit="s",
            detail=f"refreshed every {interval_s:g} s" if age is not None else "never refreshed yet",
        )
    )  # fmt: skip
    return items, sample


def health_tone(item: models.HealthItem, interval_s: float) -> str | None:
    if item.value is None:
        return "muted"
    if item.key in ("rejected", "dead_letters", "paused"):
        return "danger" if item.value > 0 else "ok"
    if item.key == "lag":
        return "danger" if item.value > 100_000 else "warn" if item.value > 10_000 else "ok"
    if item.key == "rollup_age":
        return "danger" if item.value > 20 * interval_s else "warn" if item.value > 4 * interval_s else "ok"
    return None


def health_panel(items: list[models.HealthItem], errors: list[str], interval_s: float) -> models.HealthPanel:
    columns = [
        Column(key="what", label="What"),
        Column(key="value", label="Now", align="right"),
        Column(key="detail", label="Detail"),
    ]

    def shown(item: models.HealthItem) -> str:
        if item.value is None:  # a counter seen once has no rate yet; nothing seen has nothing to show
            return "measuring…" if item.detail.endswith("since start") else "–"
        return f"{item.value:,.1f} {item.unit}" if item.unit in ("events/s", "s") else f"{item.value:,.0f} {item.unit}"

    rows = [
        {
            "what": Cell(text=item.label),
            "value": Cell(text=shown(item), tone=health_tone(item, interval_s)),
            "detail": Cell(text=item.detail, tone="muted"),
        }
        for item in items
    ]
    rows += [{"what": Cell(text="Metrics source down"), "value": Cell(text="!", tone="danger"),
              "detail": Cell(text=error[:200], tone="muted")} for error in errors]  # fmt: skip
    table = Table(columns=columns, rows=rows, empty="No metrics source configured (LOOKOUT_ALERT_METRICS_URLS).")
    return models.HealthPanel(table=table, data=items, errors=errors, step_s=0)
