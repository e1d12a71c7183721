"""The overview: what admins open first. Traffic, errors and latency against the 200 ms target, the busiest,
failing and slowest endpoints, the status mix, every service at a glance and the platform's own health, for
the range and service in the URL. The page is a frame of panels; each panel is one JSON API operation
(registered here, under /api/v1/overview) that charts.js loads on its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pandas as pd
import redis
from flask import Blueprint, render_template, request

from access import db
from alerts import platform
from dashboards.api_spec import ApiSpec
from dashboards.charts import Chart
from dashboards.models import overview as models
from dashboards.security import requires
from dashboards.views import overview_panels as panels
from dashboards.views.common import parse_form, services, settings
from warehouse.queries import overview as queries
from warehouse.queries.overview import Scope, TopOrder

bp = Blueprint("overview", __name__, url_prefix="/overview")
# The last platform scrape, shared by every dashboards process, so counters become rates between two loads.
PLATFORM_SAMPLE_KEY = "lookout:overview:platform-sample"


@bp.get("")
@requires("viewer")
def index() -> str:
    query = parse_form(models.PanelQuery, request.args.to_dict())
    span = panels.span_of(query, datetime.now(UTC))
    return render_template("overview.html", span=span, query=query, args=request.args.to_dict())


def _requests(chart: Callable[[list[models.RequestPoint]], Chart]) -> panels.Build:
    def build(scope: Scope, _query: models.PanelQuery) -> models.RequestsPanel:
        return panels.requests_panel(panels.frame(queries.build_requests(scope)), scope, chart)

    return build


def _top(order: TopOrder) -> panels.Build:
    def build(scope: Scope, query: models.TopQuery) -> models.EndpointsPanel:
        frame = queries.top(panels.frame(queries.build_endpoints(scope)), order, query.limit)
        return panels.endpoints_panel(frame, scope, panels.span_of(query, datetime.now(UTC)))

    return build


def _ingest(scope: Scope, _query: models.PanelQuery) -> models.IngestPanel:
    with db.transaction(settings()) as conn:
        stored_in_postgres = queries.pg_ingest_frame(conn, scope)
    return panels.ingest_panel([panels.frame(queries.build_ingest(scope)), stored_in_postgres], scope)


def _status(scope: Scope, _query: models.PanelQuery) -> models.StatusPanel:
    return panels.status_panel(panels.frame(queries.build_status_mix(scope)), scope)


def _last_seen(scope: Scope, run: panels.FrameRunner) -> pd.DataFrame:
    recent = run(queries.build_recent_seen(scope))
    older = run(queries.build_older_seen(scope, [str(s) for s in recent.get("service", [])]))
    found = [frame for frame in (recent, older) if not frame.empty]
    return pd.concat(found) if found else recent


def _services(scope: Scope, query: models.PanelQuery) -> models.ServicesPanel:
    span, run = panels.span_of(query, datetime.now(UTC)), panels.frame_runner()
    last_seen = panels.ALONGSIDE.submit(_last_seen, scope, run)  # beside the counts, not after them
    per_bucket = run(queries.build_services(scope))
    return panels.services_panel(per_bucket, last_seen.result(), scope, span)


def _health(_scope: Scope, _query: models.PanelQuery) -> models.HealthPanel:
    texts, errors = platform.scrape(settings().alert_metrics_urls)
    store = services().redis
    try:
        remembered = store.get(PLATFORM_SAMPLE_KEY)
    except redis.RedisError:
        remembered = None
    previous = orjson.loads(remembered) if remembered else None
    processed_until = queries.rollup_processed_until(services().warehouse())
    interval = settings().rollup_interval_s
    items, sample = panels.health_items(texts, previous, time.time(), processed_until, datetime.now(UTC), interval)
    try:
        store.set(PLATFORM_SAMPLE_KEY, orjson.dumps(sample), ex=3600)
    except redis.RedisError:
        pass  # rates wait for Redis; the gauges are shown anyway
    return panels.health_panel(items, errors, interval)


PANELS: tuple[panels.Declared, ...] = (
    (
        "/overview/ingest",
        "overview_ingest",
        "Events stored per kind per bucket",
        models.PanelQuery,
        models.IngestPanel,
        _ingest,
    ),
    (
        "/overview/requests",
        "overview_requests",
        "Request rate",
        models.PanelQuery,
        models.RequestsPanel,
        _requests(panels.rate_chart),
    ),
    (
        "/overview/errors",
        "overview_errors",
        "Error rate, 5xx and 4xx apart",
        models.PanelQuery,
        models.RequestsPanel,
        _requests(panels.error_chart),
    ),
    (
        "/overview/latency",
        "overview_latency",
        "p50/p95/p99 latency and the 200 ms target",
        models.PanelQuery,
        models.RequestsPanel,
        _requests(panels.latency_chart),
    ),
    ("/overview/status", "overview_status", "Answers per status class", models.PanelQuery, models.StatusPanel, _status),
    (
        "/overview/top/requests",
        "overview_top_requests",
        "Top endpoints by traffic",
        models.TopQuery,
        models.EndpointsPanel,
        _top(TopOrder.requests),
    ),
    (
        "/overview/top/errors",
        "overview_top_errors",
        "Top endpoints by 5xx answers",
        models.TopQuery,
        models.EndpointsPanel,
        _top(TopOrder.errors),
    ),
    (
        "/overview/top/latency",
        "overview_top_latency",
        "Top endpoints by p95 latency",
        models.TopQuery,
        models.EndpointsPanel,
        _top(TopOrder.p95),
    ),
    (
        "/overview/services",
        "overview_services",
        "Every service: rate, errors, p95, last event",
        models.PanelQuery,
        models.ServicesPanel,
        _services,
    ),
    (
        "/overview/health",
        "overview_health",
        "The platform's own health, from its metrics",
        models.PanelQuery,
        models.HealthPanel,
        _health,
    ),
)


def register(api: Blueprint, spec: ApiSpec) -> None:
    panels.declare(api, spec, "overview", PANELS)
