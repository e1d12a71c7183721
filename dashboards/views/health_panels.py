"""What the health pages and their panels share (system metrics, blockchain, security): the range and bucket
step they read, the query a page hands its panels, events as stacked bars, the answer cache, and the CSV twin of
every panel (``?format=csv``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import pandas as pd
from flask import Response, abort, request
from flask_login import current_user
from pydantic import BaseModel

from dashboards.charts import Chart, Series, figure
from dashboards.params import BadParameter
from dashboards.shaping import to_csv
from dashboards.timerange import TimeRange, parse_range
from dashboards.views.common import parse_form, services
from warehouse import clickhouse
from warehouse.queries.explorer import step_for

MAX_BUCKETS = 2000
MAX_STEP_S = 7 * 86400
M = TypeVar("M", bound=BaseModel)


def span_of(query: Any) -> TimeRange:
    return parse_range(query.from_, query.to, datetime.now(UTC))


def step_of(requested: int | None, span: TimeRange, minimum_s: int = 60) -> int:
    """Seconds per bucket: as asked (a multiple of 60, at most MAX_BUCKETS over the range), or about a
    hundred buckets."""
    if requested is None:
        return max(minimum_s, step_for(span.start, span.end))
    if requested % 60 or not 60 <= requested <= MAX_STEP_S:
        raise BadParameter(f"step: must be a multiple of 60 between 60 and {MAX_STEP_S} seconds, got {requested}")
    if (span.end - span.start).total_seconds() / requested > MAX_BUCKETS:
        raise BadParameter(f"step: {requested} s makes more than {MAX_BUCKETS} buckets over this range")
    return requested


def iso(moment: Any) -> str:
    """A UTC instant as RFC 3339 with Z (charts.js shows it in the browser's zone); the warehouse hands out
    naive UTC times."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(moment: Any) -> datetime:
    stamp = pd.Timestamp(moment)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def number(value: Any) -> float | None:
    """A JSON-ready float: None for NaN/NULL (a gap, not a zero)."""
    return None if value is None or pd.isna(value) else float(value)


def page_filter(model: type[M]) -> tuple[M, str | None]:
    """A page's filter, read from its address with the model its panels read theirs with, and the bucket step
    asked for its charts, which the page hands on to their panels as given (a bad one is refused there)."""
    args = request.args.to_dict()
    step = args.pop("step", None)
    return parse_form(model, args), step


def page_query(span: TimeRange, **filters: str | None) -> dict[str, str]:
    """What every panel of a page reads: the page's range and the filters that are set."""
    return {key: value for key, value in {"from": span.raw_from, "to": span.raw_to, **filters}.items() if value}


def chart_query(shared: dict[str, str], step: str | None) -> dict[str, str]:
    """What a page's charts read: what all its panels read, and the step asked for, if any."""
    return {**shared, "step": step} if step else shared


def stacked_events(
    frame: pd.DataFrame, by: str, order: Sequence[str] = (), colours: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The figure of ``frame``'s events per bucket, one bar per value of ``by``, stacked: in ``order`` (a value
    not in it counts as its first), else by name; coloured by ``colours``, else the palette's colours in turn."""
    rank = {name: i for i, name in enumerate(order)}
    groups = sorted(frame.groupby(by, sort=True), key=lambda item: rank.get(str(item[0]), 0))
    chart = Chart(
        series=[
            Series(name=str(name), x=[iso(t) for t in group["bucket"]], y=group["events"].astype(int).tolist(),
                   kind="bar", colour=(colours or {}).get(str(name)))
            for name, group in groups
        ],
        y_title="events", stacked=True,
    )  # fmt: skip
    return figure(chart)


def role() -> str:
    return current_user.role if current_user.is_authenticated else "api_key"


def answer(panel: str, query: BaseModel, compute: Callable[[], tuple[BaseModel, pd.DataFrame]]) -> NoReturn:
    """Send the panel's answer, JSON or CSV, from the panel cache or computed now; ends the request.

    The JSON is the response model's own serialisation, so it is what the OpenAPI document declares; it is
    handed to Flask as the finished response (``abort``) because a cached answer is already those bytes,
    and parsing them back into the model on every hit would cost more than the cache saves.
    """
    csv = getattr(query, "format_", "json") == "csv"
    params = {key: str(value) for key, value in query.model_dump(by_alias=True, exclude_none=True).items()}

    def compute_bytes() -> bytes:
        with clickhouse.translated():
            model, frame = compute()
        return to_csv(frame).encode() if csv else model.model_dump_json().encode()

    body, hit = services().panel_cache.get_or_compute(panel, params, role(), time.time(), compute_bytes)
    response = Response(body, mimetype="text/csv" if csv else "application/json")
    if csv:
        response.headers["Content-Disposition"] = f'attachment; filename="{panel.replace(".", "-")}.csv"'
    response.headers["X-Panel-Cache"] = "hit" if hit else "miss"
    abort(response)
