"""API metrics: per endpoint (method + path), latency percentiles and error rate over time next to the same
range a day or a week earlier (dashed, so a regression shows as two lines apart), request and response sizes,
and the slowest single requests with their request ids. Panels are JSON API operations under
/api/v1/api-metrics, like the overview's."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, render_template, request, url_for

from dashboards.api_spec import ApiSpec
from dashboards.models import overview as models
from dashboards.security import requires
from dashboards.views import overview_panels as panels
from dashboards.views.common import parse_form
from warehouse.queries import overview as queries
from warehouse.queries.overview import Scope, TopOrder

bp = Blueprint("api_metrics", __name__, url_prefix="/metrics/api")


@bp.get("")
@requires("viewer")
def index() -> str:
    query = parse_form(models.PanelQuery, request.args.to_dict())
    span = panels.span_of(query, datetime.now(UTC))
    compare = request.args.get("compare", "1d")
    return render_template("api_metrics.html", span=span, query=query, compare=compare, args=request.args.to_dict())


def _endpoints(scope: Scope, query: models.TopQuery) -> models.EndpointsPanel:
    span = panels.span_of(query, datetime.now(UTC))
    # The table lists every endpoint of the range, whichever one the charts show.
    everything = Scope(scope.start, scope.end, scope.service)

    def select(row: models.EndpointRow) -> str:
        # Not url_for(**params): its first parameter is called ``endpoint`` too.
        keep = {k: v for k, v in request.args.items() if k not in ("endpoint", "method", "service", "format", "limit")}
        chosen = {**keep, "service": row.service, "method": row.method, "endpoint": row.endpoint}
        return f"{url_for('api_metrics.index')}?{urlencode(chosen)}"

    frame = queries.top(panels.frame(queries.build_endpoints(everything)), TopOrder.requests, query.limit)
    return panels.endpoints_panel(frame, everything, span, select)


def _compared(metric: str) -> panels.Build:
    def build(scope: Scope, query: models.CompareQuery) -> models.ComparedPanel:
        run, previous = panels.frame_runner(), None
        if query.compare != "none":  # both periods at once
            shifted = scope.shifted(panels.COMPARE_OFFSETS[query.compare])
            previous = panels.ALONGSIDE.submit(run, queries.build_requests(shifted))
        current = run(queries.build_requests(scope))
        return panels.compared_panel(current, previous and previous.result(), scope, query.compare, metric)

    return build


def _sizes(scope: Scope, _query: models.PanelQuery) -> models.SizesPanel:
    return panels.sizes_panel(panels.frame(queries.build_sizes(scope)), scope)


def _slowest(scope: Scope, _query: models.PanelQuery) -> models.SlowestPanel:
    return panels.slowest_panel(panels.frame(queries.build_slowest(scope)), scope)


PANELS: tuple[panels.Declared, ...] = (
    (
        "/api-metrics/endpoints",
        "api_metrics_endpoints",
        "Endpoints (method + path) by traffic",
        models.TopQuery,
        models.EndpointsPanel,
        _endpoints,
    ),
    (
        "/api-metrics/latency",
        "api_metrics_latency",
        "Latency percentiles, and p95 of the previous period",
        models.CompareQuery,
        models.ComparedPanel,
        _compared("latency"),
    ),
    (
        "/api-metrics/errors",
        "api_metrics_errors",
        "Error rate, and 5xx of the previous period",
        models.CompareQuery,
        models.ComparedPanel,
        _compared("errors"),
    ),
    (
        "/api-metrics/sizes",
        "api_metrics_sizes",
        "Request and response sizes",
        models.PanelQuery,
        models.SizesPanel,
        _sizes,
    ),
    (
        "/api-metrics/slowest",
        "api_metrics_slowest",
        "The slowest requests, with their request ids",
        models.PanelQuery,
        models.SlowestPanel,
        _slowest,
    ),
)


def register(api: Blueprint, spec: ApiSpec) -> None:
    panels.declare(api, spec, "api metrics", PANELS)
