"""Pure logic of the health pages (system metrics, blockchain events): which warning and critical levels
apply to a gauge, how close an instance is to them, and when it is stale. No I/O: frames and mappings in,
frames out, the clock an argument.

Levels, highest precedence first:
1. an enabled ``system_metric`` alert rule on the metric (``threshold`` is the warning level, its
   ``critical_threshold`` the critical one; a rule with ``severity: critical`` and no critical threshold
   makes its threshold both), restricted to the rule's service/instance when it names them;
2. the levels the newest samples carried (the contract's ``threshold_warning``/``threshold_critical``);
3. ``LOOKOUT_SYSTEM_THRESHOLDS``, matched on the metric's name. Not on its type: one type holds gauges of
   other units and senses (``cpu`` holds ``system.cpu.utilization.idle``, where high is good; ``memory``
   holds byte counts), so a type's levels would flag healthy gauges.
Only "higher is worse" rules (comparators > and >=) give levels: a page drawing a floor as a ceiling would
mislead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from lookout.settings import Limits

STATES = ("stale", "critical", "warning", "ok", "unknown")


@dataclass(frozen=True)
class RuleLevels:
    metric_name: str
    warning: float
    critical: float
    rule: str
    service: str | None = None
    instance: str | None = None

    def applies(self, service: str, instance: str) -> bool:
        return self.service in (None, service) and self.instance in (None, instance)


def rule_levels(rules: Iterable[Mapping[str, Any]]) -> list[RuleLevels]:
    """Levels from alert rules (rows of alert_rules: ``enabled`` and the rule's ``definition``)."""
    found: list[RuleLevels] = []
    for row in rules:
        definition = row.get("definition") or {}
        query = definition.get("query") or {}
        if not row.get("enabled") or query.get("type") != "system_metric":
            continue
        if definition.get("comparator", ">") not in (">", ">="):
            continue
        threshold = definition.get("threshold")
        if not isinstance(threshold, int | float) or not query.get("metric_name"):
            continue
        critical = definition.get("critical_threshold")
        if not isinstance(critical, int | float):
            critical = threshold if definition.get("severity") == "critical" else math.inf
        found.append(
            RuleLevels(
                str(query["metric_name"]),
                float(threshold),
                float(critical),
                str(definition.get("name", row.get("name", ""))),
                query.get("service") or None,
                query.get("instance") or None,
            )
        )
    return found


def levels_for(
    service: str,
    instance: str,
    metric_name: str,
    sample_warning: float | None,
    sample_critical: float | None,
    rules: list[RuleLevels],
    configured: Mapping[str, Limits],
) -> tuple[float | None, float | None, str]:
    """(warning, critical, where they come from) for one gauge; None where no level is known."""
    for rule in rules:
        if rule.metric_name == metric_name and rule.applies(service, instance):
            return rule.warning, (None if math.isinf(rule.critical) else rule.critical), f"alert rule {rule.rule}"
    if _known(sample_warning) or _known(sample_critical):
        return (
            sample_warning if _known(sample_warning) else None,
            sample_critical if _known(sample_critical) else None,
            "the samples",
        )
    limits = configured.get(metric_name)
    if limits is not None:
        return limits.warning, limits.critical, "LOOKOUT_SYSTEM_THRESHOLDS"
    return None, None, ""


def _known(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def is_stale(last_minute: datetime, now: datetime, interval_s: int, intervals: int) -> bool:
    """No sample for ``intervals`` reporting intervals: the last one fell within ``last_minute`` (the rollups'
    precision), so it is at most a minute later than that."""
    last_possible = last_minute + timedelta(seconds=60)
    return now - last_possible > timedelta(seconds=interval_s * intervals)


def state_of(value: float, warning: float | None, critical: float | None) -> str:
    if critical is not None and value >= critical:
        return "critical"
    if warning is not None and value >= warning:
        return "warning"
    return "ok" if warning is not None or critical is not None else "unknown"


def closeness(value: float, warning: float | None, critical: float | None) -> float | None:
    """The value as a fraction of the highest level known (1.0 = at the critical level)."""
    limit = critical if critical is not None else warning
    if limit is None or limit <= 0:
        return None
    return value / limit


def assess(
    latest: pd.DataFrame,
    now: datetime,
    rules: list[RuleLevels],
    configured: Mapping[str, Limits],
    interval_s: int,
    intervals: int,
) -> pd.DataFrame:
    """``latest`` (warehouse.queries.system_metrics.latest) with warning, critical, levels_from, closeness,
    stale and state per gauge; instances that stopped reporting (every gauge stale) first, then instances by
    their gauge closest to its levels, each instance's gauges together, closest first."""
    rows = []
    for row in latest.to_dict("records"):
        warning, critical, source = levels_for(
            row["service"], row["instance"], row["metric_name"], row.get("sample_warning"),
            row.get("sample_critical"), rules, configured,
        )  # fmt: skip
        last_minute = pd.Timestamp(row["last_minute"]).to_pydatetime()
        stale = is_stale(last_minute.replace(tzinfo=now.tzinfo), now, interval_s, intervals)
        value = float(row["last_value"])
        rows.append({
            "service": row["service"], "instance": row["instance"], "metric_name": row["metric_name"],
            "metric_type": row.get("metric_type") or "", "unit": row.get("unit") or "",
            "value": value, "peak": float(row["peak"]), "last_minute": last_minute,
            "warning": warning, "critical": critical, "levels_from": source,
            "closeness": closeness(value, warning, critical), "stale": stale,
            "state": "stale" if stale else state_of(value, warning, critical),
        })  # fmt: skip
    columns = [
        "service", "instance", "metric_name", "metric_type", "unit", "value", "peak", "last_minute", "warning",
        "critical", "levels_from", "closeness", "stale", "state",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    by_instance = frame.groupby(["service", "instance"])
    frame = frame.assign(
        _gone=by_instance["stale"].transform("all").astype(int),
        _worst=by_instance["closeness"].transform("max").fillna(-1),
        _own=frame["closeness"].fillna(-1),
    )
    frame = frame.sort_values(
        ["_gone", "_worst", "service", "instance", "_own", "metric_name"],
        ascending=[False, False, True, True, False, True],
    )
    return frame.drop(columns=["_gone", "_worst", "_own"]).reset_index(drop=True)


def instance_state(states: Iterable[str]) -> str:
    """An instance's state from its gauges': stale when every gauge is, else the worst of the others."""
    found = list(states)
    if found and all(state == "stale" for state in found):
        return "stale"
    live = [state for state in found if state != "stale"]
    return min(live, key=STATES.index) if live else "unknown"
