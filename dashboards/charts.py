"""The pages' figures, built with plotly from the same rows the JSON API returns (the API sends both, so a
script sees the numbers and the page draws the figure with Plotly's JavaScript: static/charts.js).

Figures are theme-neutral (transparent, no fixed text colour): charts.js applies the light or dark palette
the browser asks for. The same level, status class or severity has the same colour on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import plotly.graph_objects as go

LEVEL_COLOURS = {
    "debug": "#8d96a8",
    "info": "#3a7bd5",
    "warn": "#e0a000",
    "warning": "#e0a000",
    "error": "#d9483b",
    "critical": "#9c2a6b",
    "fatal": "#9c2a6b",
}
STATUS_COLOURS = {"2xx": "#2f9e63", "3xx": "#3a7bd5", "4xx": "#e0a000", "5xx": "#d9483b"}
SEVERITY_COLOURS = {"low": "#8d96a8", "medium": "#e0a000", "high": "#e26a2c", "critical": "#d9483b"}
WARNING_COLOUR = "#e0a000"
CRITICAL_COLOUR = "#d9483b"
# Series without a meaning of their own take these in order (colour-blind-safe, after Okabe and Ito).
PALETTE = ("#3a7bd5", "#e26a2c", "#2f9e63", "#9c5fd0", "#d9483b", "#1fa3b3", "#c7a000", "#8d96a8")


@dataclass(frozen=True)
class Series:
    name: str
    x: Sequence[datetime | str | float]
    y: Sequence[float | int | None]
    colour: str | None = None
    kind: Literal["line", "bar", "area"] = "line"
    dash: Literal["solid", "dot", "dash"] = "solid"
    unit: str = ""


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str
    colour: str = CRITICAL_COLOUR


@dataclass(frozen=True)
class Marker:
    """A vertical line at a moment (an alert firing, a deploy), labelled."""

    at: datetime | str
    label: str
    colour: str = CRITICAL_COLOUR


@dataclass(frozen=True)
class Chart:
    series: Sequence[Series]
    unit: str = ""
    y_title: str = ""
    stacked: bool = False
    thresholds: Sequence[Threshold] = field(default_factory=tuple)
    markers: Sequence[Marker] = field(default_factory=tuple)
    x_is_time: bool = True
    x_title: str = ""


def figure(chart: Chart) -> dict[str, Any]:
    """The plotly figure for ``chart`` as a JSON-ready dict (datetimes stay datetimes: the API encodes them).

    Built in one ``go.Figure`` call (plotly validates it); adding traces and lines one by one costs ten times
    as much, and every panel builds one per request it does not find cached.
    """
    traces = [_trace(s, s.colour or PALETTE[i % len(PALETTE)], chart) for i, s in enumerate(chart.series)]
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for threshold in chart.thresholds:
        shapes.append({
            "type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": threshold.value, "y1": threshold.value,
            "line": {"color": threshold.colour, "width": 1.5, "dash": "dash"},
        })  # fmt: skip
        notes.append({
            "xref": "paper", "x": 0, "y": threshold.value, "yanchor": "bottom", "xanchor": "left",
            "text": threshold.label, "showarrow": False, "font": {"color": threshold.colour, "size": 11},
        })  # fmt: skip
    for marker in chart.markers:
        shapes.append({
            "type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": marker.at, "x1": marker.at,
            "line": {"color": marker.colour, "width": 1, "dash": "dot"},
        })  # fmt: skip
        notes.append({
            "yref": "paper", "y": 1, "x": marker.at, "yanchor": "bottom", "text": marker.label,
            "showarrow": False, "font": {"color": marker.colour, "size": 10},
        })  # fmt: skip
    suffix = "%" if chart.unit == "%" else (f" {chart.unit}" if chart.unit else "")
    layout = {
        "barmode": "stack" if chart.stacked else "group",
        "bargap": 0.08,
        "margin": {"l": 56, "r": 16, "t": 28, "b": 36},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified" if chart.x_is_time else "closest",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        "font": {"family": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', "size": 12},
        "dragmode": "zoom",
        "showlegend": len(chart.series) > 1,
        "shapes": shapes,
        "annotations": notes,
        "xaxis": {
            "type": "date" if chart.x_is_time else "-", "showgrid": False, "zeroline": False,
            "title": {"text": chart.x_title} if chart.x_title else None,
        },
        # A drag zooms time only: the page's range follows it.
        "yaxis": {
            "fixedrange": True, "rangemode": "tozero", "zeroline": False, "ticksuffix": suffix,
            "title": {"text": chart.y_title} if chart.y_title else None,
        },
    }  # fmt: skip
    return go.Figure(data=traces, layout=layout).to_plotly_json()


def _trace(series: Series, colour: str, chart: Chart) -> dict[str, Any]:
    unit = series.unit or chart.unit
    hover = f"{series.name}: %{{y:,.4~g}}{'%' if unit == '%' else (' ' + unit if unit else '')}<extra></extra>"
    if series.kind == "bar":
        return {
            "type": "bar", "name": series.name, "x": list(series.x), "y": list(series.y),
            "marker": {"color": colour}, "hovertemplate": hover,
        }  # fmt: skip
    ys = list(series.y)
    return {
        "type": "scatter",
        "name": series.name,
        "x": list(series.x),
        "y": ys,
        # A value with empty buckets on both sides has no line to sit on: it gets a dot, the rest none.
        "mode": "lines+markers",
        "marker": {"color": colour, "size": [5 if _isolated(ys, i) else 0 for i in range(len(ys))]},
        "line": {"color": colour, "width": 1.8, "dash": series.dash},
        "fill": "tozeroy" if series.kind == "area" else "none",
        "connectgaps": False,  # an empty bucket is a gap, not a straight line across it
        "hovertemplate": hover,
    }


def _isolated(ys: Sequence[float | int | None], i: int) -> bool:
    if ys[i] is None:
        return False
    before = ys[i - 1] if i > 0 else None
    after = ys[i + 1] if i + 1 < len(ys) else None
    return before is None and after is None
