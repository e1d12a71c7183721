"""System metrics: per instance CPU, memory, disk, load and every other gauge reported, over time, with their
warning and critical levels; instances sorted by how close they are to them, the silent ones marked stale.
The page (/metrics/system) and its JSON twins under /api/v1/system (``register``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pandas as pd
from flask import Blueprint, render_template, request

from access import db
from dashboards import health
from dashboards.api_spec import ApiSpec
from dashboards.charts import CRITICAL_COLOUR, PALETTE, WARNING_COLOUR, Chart, Series, Threshold, figure
from dashboards.models import health as models
from dashboards.models.panels import Cell, Column, Table
from dashboards.security import requires
from dashboards.shaping import fill_gaps
from dashboards.views.common import parse_form, services, settings
from dashboards.views.health_panels import answer, iso, number, span_of, step_of, utc
from warehouse import clickhouse
from warehouse.queries import alert_store, system_metrics
from warehouse.queries.system_metrics import SystemQuery

bp = Blueprint("system_metrics", __name__, url_prefix="/metrics/system")
_UNITS = {"percent": "%", "%": "%"}
_TONES = {"stale": "muted", "critical": "danger", "warning": "warn", "ok": "ok"}


def _query(wanted: models.SystemFilter, metric: str | None = None) -> SystemQuery:
    span = span_of(wanted)
    return SystemQuery(span.start, span.end, wanted.service, wanted.instance, metric)


def _assessed(query: SystemQuery) -> pd.DataFrame:
    with db.transaction(settings()) as conn:
        rules = health.rule_levels(alert_store.list_rules(conn))
    latest = system_metrics.latest(services().warehouse(), query)
    config = settings()
    now = min(datetime.now(UTC), query.end)
    return health.assess(
        latest, now, rules, config.system_thresholds, config.system_metrics_interval_s,
        config.system_metrics_stale_intervals,
    )  # fmt: skip


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    shown = f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{shown}{_UNITS.get(unit, ' ' + unit if unit else '')}"


def instances_table(rows: list[models.InstanceRow], span: str) -> Table:
    columns = [
        Column(key="instance", label="Instance"),
        Column(key="metric", label="Metric"),
        Column(key="value", label="Latest", align="right"),
        Column(key="levels", label="Warning / critical", align="right"),
        Column(key="closeness", label="Of critical", align="right"),
        Column(key="last", label="Last sample (UTC)"),
        Column(key="state", label="State"),
    ]
    cells = []
    for row in rows:
        tone = _TONES.get(row.state)
        levels = f"{_fmt(row.warning, row.unit)} / {_fmt(row.critical, row.unit)}"
        cells.append({
            "instance": Cell(text=row.instance, title=f"service {row.service}"),
            "metric": Cell(text=row.metric_name, title=row.metric_type or None),
            "value": Cell(text=_fmt(row.value, row.unit), tone=tone, title=f"peak {_fmt(row.peak, row.unit)}"),
            "levels": Cell(text=levels, title=f"levels from {row.levels_from}" if row.levels_from else "no levels"),
            "closeness": Cell(text="–" if row.closeness is None else f"{row.closeness:.0%}", tone=tone),
            "last": Cell(text=row.last_minute.strftime("%Y-%m-%d %H:%M")),
            "state": Cell(text=row.state, tone=tone),
        })  # fmt: skip
    empty = f"No system metrics in {span}. Instances send kind system_metric events (or OTLP gauges)."
    return Table(columns=columns, rows=cells, empty=empty)


def register(api: Blueprint, spec: ApiSpec) -> None:
    op = spec.operation

    @op(
        api, "/system/instances", "GET", summary="Every instance's gauges against their levels, closest first",
        role="viewer", tag="system", query=models.SystemFilter, response=models.SystemInstances,
    )  # fmt: skip
    def system_instances(query: models.SystemFilter) -> models.SystemInstances:
        def compute() -> tuple[models.SystemInstances, pd.DataFrame]:
            frame = _assessed(_query(query))
            rows = [models.InstanceRow(**_clean(r)) for r in frame.to_dict("records")]
            return models.SystemInstances(table=instances_table(rows, span_of(query).label.lower()), data=rows), frame

        answer("system.instances", query, compute)

    @op(
        api, "/system/series", "GET", summary="One metric per instance over time, with its levels",
        role="viewer", tag="system", query=models.SystemSeriesQuery, response=models.SystemSeries,
    )  # fmt: skip
    def system_series(query: models.SystemSeriesQuery) -> models.SystemSeries:
        span = span_of(query)
        step = step_of(query.step, span)

        def compute() -> tuple[models.SystemSeries, pd.DataFrame]:
            wanted = _query(query, query.metric)
            raw = system_metrics.series(services().warehouse(), wanted, step)
            frame = fill_gaps(raw, span.start, span.end, step, by=("service", "instance"))
            assessed = _assessed(wanted)
            warning, critical, source = _common_levels(assessed)
            unit = _UNITS.get(str(assessed["unit"].iloc[0]), str(assessed["unit"].iloc[0])) if len(assessed) else ""
            chart = Chart(
                series=[
                    Series(name=str(name), x=[iso(t) for t in group["bucket"]],
                           y=[number(v) for v in group["value"]], colour=PALETTE[i % len(PALETTE)])
                    for i, (name, group) in enumerate(frame.groupby("instance", sort=True))
                ],
                unit=unit,
                thresholds=[
                    *([Threshold(warning, f"warning {_fmt(warning, unit)}", WARNING_COLOUR)] if warning else []),
                    *([Threshold(critical, f"critical {_fmt(critical, unit)}", CRITICAL_COLOUR)] if critical else []),
                ],
            )  # fmt: skip
            points = [
                models.SeriesPoint(bucket=utc(r["bucket"]), service=r["service"], instance=r["instance"],
                                   value=number(r["value"]), peak=number(r["peak"]))
                for r in frame.to_dict("records")
            ]  # fmt: skip
            result = models.SystemSeries(
                figure=models.Figure(**figure(chart)), metric=query.metric, warning=warning, critical=critical,
                levels_from=source, step=step, data=points,
            )  # fmt: skip
            return result, frame

        answer("system.series", query, compute)

    @op(
        api, "/system/metrics", "GET", summary="The metrics reported in the range", role="viewer", tag="system",
        query=models.SystemFilter, response=models.MetricNames,
    )  # fmt: skip
    def system_metric_names(query: models.SystemFilter) -> models.MetricNames:
        return models.MetricNames(metrics=_metric_names(query))


def _metric_names(wanted: models.SystemFilter) -> list[str]:
    with clickhouse.translated():
        return system_metrics.metric_names(services().warehouse(), _query(wanted))


def _common_levels(assessed: pd.DataFrame) -> tuple[float | None, float | None, str]:
    """The levels most instances of the metric have (instances may carry their own in their samples)."""
    if assessed.empty:
        return None, None, ""
    found = Counter(
        (number(r["warning"]), number(r["critical"]), r["levels_from"]) for r in assessed.to_dict("records")
    )
    return found.most_common(1)[0][0]


def _clean(row: dict) -> dict:
    return {
        **row,
        "warning": number(row["warning"]),
        "critical": number(row["critical"]),
        "closeness": number(row["closeness"]),
        "last_minute": utc(row["last_minute"]),
        "stale": bool(row["stale"]),
    }


@bp.get("")
@requires("viewer")
def index() -> str:
    args = request.args.to_dict()
    step = args.pop("step", None)  # the charts' bucket, passed on to their panels as given
    wanted = parse_form(models.SystemFilter, args)
    span = span_of(wanted)
    shared = {"from": span.raw_from, "to": span.raw_to, "service": wanted.service, "instance": wanted.instance}
    shared = {key: value for key, value in shared.items() if value}
    return render_template(
        "system_metrics.html",
        span=span,
        filters=wanted,
        shared=shared,
        series_args={**shared, "step": step} if step else shared,
        metrics=_metric_names(wanted),
    )
