"""A rule's answer derived from a shared scan's rows (warehouse/queries/alert_queries.py: scan). Pure.

Each function gives exactly what the rule's own query (alert_queries.build) answers: the same filters, the
same group-by, the same HAVING, applied to the scan's finer rows. Sums and counts are re-added here; latency
quantiles come from the scan's grouping set that matches the rule (t-digests cannot be merged again in
Python), so they equal the rule's own query up to the t-digest's merge order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.engine import QueryResult, Sample
from alerts.rules import Rule
from warehouse.queries.alert_queries import QUANTILE_LEVELS

Row = Mapping[str, Any]


def _matching(rows: Iterable[Row], equals: Mapping[str, Any], one_of: Mapping[str, Any] | None = None) -> list[Row]:
    return [
        r
        for r in rows
        if all(r[k] == v for k, v in equals.items() if v is not None)
        and all(r[k] in v for k, v in (one_of or {}).items() if v)
    ]


def _grouped(rows: Iterable[Row], group_by: tuple[str, ...]) -> dict[tuple[str, ...], list[Row]]:
    groups: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(str(row[g]) for g in group_by)].append(row)
    return groups


def _samples(
    rows: list[Row], rule: Rule, value: Callable[[list[Row]], float | None], always_one: bool = False
) -> QueryResult:
    groups = _grouped(rows, rule.group_by)
    if always_one and not rule.group_by and not groups:
        groups[()] = []
    out = []
    for key, members in groups.items():
        v = value(members)
        if v is not None and math.isfinite(v):
            out.append(Sample(dict(zip(rule.group_by, key, strict=True)), float(v)))
    return QueryResult(tuple(out))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def answer(rule: Rule, rows: list[Row], end: datetime) -> QueryResult:
    """The rule's samples from the rows of its scan, read over the window ending at ``end``."""
    params = rule.query.params
    kind = rule.query.type
    if kind == "log_count":
        picked = _matching(rows, {"service": params.get("service")}, {"level": params.get("level")})
        # Without group_by the rule's query answers one row even when nothing matched: zero, not no data.
        return _samples(picked, rule, lambda rs: sum(r["events"] for r in rs), always_one=True)
    if kind == "system_metric":
        picked = _matching(rows, {k: params.get(k) for k in ("metric_name", "service", "instance")})
        aggregate = params.get("aggregate", "avg")

        def metric(rs: list[Row]) -> float | None:
            if sum(r["samples"] for r in rs) <= 0:
                return None
            if aggregate == "max":
                return max(r["value_max"] for r in rs)
            if aggregate == "min":
                return min(r["value_min"] for r in rs)
            return sum(r["value_sum"] for r in rs) / sum(r["samples"] for r in rs)

        return _samples(picked, rule, metric)
    if kind == "heartbeat":
        picked = _matching(rows, {"service": params.get("service")})
        at = int(_utc(end).timestamp())

        def silent_for(rs: list[Row]) -> float:
            # As the rule's query: with nothing seen (no group_by), its max(minute) is the epoch.
            last = max((int(_utc(r["last"]).timestamp()) for r in rs), default=0)
            return max(0, at - (last + 60))

        return _samples(picked, rule, silent_for, always_one=True)
    filters = {k: params.get(k) for k in ("service", "endpoint")}
    if kind == "api_error_rate":
        finest = [r for r in rows if r["grouping"] == 0]
        minimum = params.get("min_requests", 1)

        def rate(rs: list[Row]) -> float | None:
            requests = sum(r["requests"] for r in rs)
            return 100 * sum(r["errors"] for r in rs) / requests if requests >= minimum and requests else None

        return _samples(_matching(finest, filters), rule, rate)
    # api_latency: the grouping set of exactly the columns the rule filters or groups by.
    used = {k for k, v in filters.items() if v is not None} | set(rule.group_by)
    grouping = (0 if "service" in used else 2) + (0 if "endpoint" in used else 1)
    index = QUANTILE_LEVELS.index(float(params.get("quantile", 0.95)))
    picked = _matching([r for r in rows if r["grouping"] == grouping], filters)
    return _samples(picked, rule, lambda rs: rs[0]["quantiles"][index] if rs[0]["requests"] > 0 else None)
