"""System metrics: per instance CPU, memory, disk, load and every other gauge reported, over time, with their
warning and critical levels; instances sorted by how close they are to them, the silent ones marked stale.
The page (/metrics/system) and its JSON twins under /api/v1/system (``register``)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from itertools import groupby
from urllib.parse import urlencode

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
from dashboards.views.common import services, settings
from dashboards.views.health_panels import (
    answer,
    chart_query,
    iso,
    number,
    page_filter,
    page_query,
    span_of,
    step_of,
    utc,
)
from warehouse import clickhouse
from warehouse.queries import alert_store, system_metrics
from warehouse.queries.system_metrics import SystemQuery

bp = Blueprint("system_metrics", __name__, url_prefix="/metrics/system")
_UNITS = {"percent": "%", "%": "%"}
_TONES = {"stale": "muted", "critical": "danger", "warning": "warn", "ok": "ok"}


def _query(wanted: models.SystemFilter, metric: str | None = None) -> SystemQuery:
    span = span_of(wanted)
    return SystemQuery(span.start, span.end, wanted.service, wanted.instance, metric)


def _rules() -> list[health.RuleLevels]:
    with db.transaction(settings()) as conn:
        return health.rule_levels(alert_store.list_rules(conn))


def _assessed(query: SystemQuery) -> pd.DataFrame:
    latest = system_metrics.latest(services().warehouse(), query)
    config = settings()
    now = min(datetime.now(UTC), query.end)
    return health.assess(
        latest, now, _rules(), config.system_thresholds, config.system_metrics_interval_s,
        config.system_metrics_stale_intervals,
    )  # fmt: skip


def _metric_levels(query: SystemQuery) -> tuple[float | None, float | None, str, str]:
    """(warning, critical, where from, unit) most of the metric's instances have (each may carry its own)."""
    found = system_metrics.levels(services().warehouse(), query)
    rules, configured = _rules(), settings().system_thresholds
    metric = query.metric or ""
    if found.empty:
        return (*health.levels_for("", "", metric, None, None, rules, configured), "")
    chosen = Counter(
        (*health.levels_for(r["service"], r["instance"], metric, number(r["sample_warning"]),
                            number(r["sample_critical"]), rules, configured), r["unit"])
        for r in found.to_dict("records")
    )  # fmt: skip
    return chosen.most_common(1)[0][0]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    shown = f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{shown}{_UNITS.get(unit, ' ' + unit if unit else '')}"


def instances_table(rows: list[models.InstanceRow], span: str) -> Table:
    """One row per instance (in ``rows``' order): its gauge closest to its levels, and its state."""
    columns = [
        Column(key="instance", label="Instance"),
        Column(key="metric", label="Closest to its levels"),
        Column(key="value", label="Latest", align="right"),
        Column(key="levels", label="Warning / critical", align="right"),
        Column(key="closeness", label="Of critical", align="right"),
        Column(key="gauges", label="Gauges", align="right"),
        Column(key="last", label="Last sample (UTC)"),
        Column(key="state", label="State"),
    ]
    cells = []
    for (service, instance), group in groupby(rows, key=lambda r: (r.service, r.instance)):
        gauges = list(group)
        worst, state = gauges[0], health.instance_state(g.state for g in gauges)
        tone, own_tone = _TONES.get(state), _TONES.get(worst.state)
        levels = f"{_fmt(worst.warning, worst.unit)} / {_fmt(worst.critical, worst.unit)}"
        cells.append({
            "instance": Cell(text=instance, title=f"service {service}",
                             href=f"/metrics/system?{urlencode({**_kept(), 'instance': instance})}"),
            "metric": Cell(text=worst.metric_name, title=worst.metric_type or None),
            "value": Cell(text=_fmt(worst.value, worst.unit), tone=own_tone,
                          title=f"peak {_fmt(worst.peak, worst.unit)}"),
            "levels": Cell(text=levels, title=f"levels from {worst.levels_from}" if worst.levels_from else "no levels"),
            "closeness": Cell(text="–" if worst.closeness is None else f"{worst.closeness:.0%}", tone=own_tone),
            "gauges": Cell(text=str(len(gauges)), title=", ".join(g.metric_name for g in gauges)),
            "last": Cell(text=max(g.last_minute for g in gauges).strftime("%Y-%m-%d %H:%M")),
            "state": Cell(text=state, tone=tone),
        })  # fmt: skip
    empty = f"No system metrics in {span}. Instances send kind system_metric events (or OTLP gauges)."
    return Table(columns=columns, rows=cells, empty=empty)


def _kept() -> dict[str, str]:
    """The page's range and service, for links that narrow it further."""
    return {k: v for k, v in request.args.items() if k in ("from", "to", "service")}


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
            warning, critical, source, raw_unit = _metric_levels(wanted)
            unit = _UNITS.get(raw_unit, raw_unit)
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
    wanted, step = page_filter(models.SystemFilter)
    span = span_of(wanted)
    shared = page_query(span, service=wanted.service, instance=wanted.instance)
    return render_template(
        "system_metrics.html",
        span=span,
        filters=wanted,
        shared=shared,
        series_args=chart_query(shared, step),
        metrics=_metric_names(wanted),
    )
