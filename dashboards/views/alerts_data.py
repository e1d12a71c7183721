"""What the alert pages and their JSON twins show, built once for both: the pages render these models, the API
returns them. Reads go through the alerting query layer (warehouse/queries/alert_store.py)."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import yaml

from access import db
from access.errors import AccessError, NotFound
from alerts import manage, preview
from alerts.grouping import group_key_text
from alerts.rules import Rule
from dashboards.charts import CRITICAL_COLOUR, WARNING_COLOUR, Chart, Marker, Series, Threshold, figure
from dashboards.models import alerts as models
from dashboards.models.panels import Figure
from dashboards.views.common import services, settings
from warehouse.queries import alert_store

UNITS = {"api_error_rate": "%", "api_latency": "ms", "heartbeat": "s"}
MARKER_COLOURS = {"pending": WARNING_COLOUR, "firing": CRITICAL_COLOUR, "resolved": "#2f9e63"}
MAX_SERIES = 8  # the preview draws the group keys that came closest to breaching; the data has them all
MAX_MARKERS = 40


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def definition_of(raw: dict[str, Any] | str) -> dict[str, Any]:
    """A rule or channel document from a mapping or YAML/JSON text (the editor sends text)."""
    if isinstance(raw, dict):
        return raw
    try:
        loaded = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise AccessError(f"the rule is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(loaded, dict):
        raise AccessError("the rule must be a YAML mapping: name, query, threshold, ...")
    return loaded


def _state(row: dict[str, Any]) -> str:
    if not row["enabled"]:
        return "disabled"
    if row["firing"]:
        return "firing"
    if row["pending"]:
        return "pending"
    if row["last_error"]:
        return "error"
    return "ok" if row["last_evaluated_at"] else "never evaluated"


def _summary(row: dict[str, Any]) -> models.RuleSummary:
    definition = row["definition"]
    return models.RuleSummary(
        name=row["name"],
        description=definition.get("description", ""),
        severity=definition.get("severity", "warning"),
        query_type=definition.get("query", {}).get("type", ""),
        interval_s=manage.parse(definition, f"stored rule {row['name']}").interval_s,
        enabled=row["enabled"],
        builtin=row["builtin"],
        state=_state(row),  # type: ignore[arg-type]
        firing=row.get("firing", 0),
        pending=row.get("pending", 0),
        last_evaluated_at=row.get("last_evaluated_at"),
        last_error=row.get("last_error", ""),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def rules() -> models.RuleList:
    with db.transaction(settings()) as conn:
        rows = alert_store.rules_overview(conn)
    return models.RuleList(rules=[_summary(r) for r in rows])


def rule(name: str) -> models.RuleOut:
    with db.transaction(settings()) as conn:
        row = next((r for r in alert_store.rules_overview(conn) if r["name"] == name), None)
    if row is None:
        raise NotFound(f"no rule named {name!r}")
    return models.RuleOut(rule=_summary(row), definition=manage.parse(row["definition"]).to_dict())


def incident_model(row: dict[str, Any]) -> models.Incident:
    return models.Incident(**{k: row[k] for k in models.Incident.model_fields if k in row},
                           group_key_text=group_key_text(row["group_key"]))  # fmt: skip


def incidents(open_only: bool, limit: int) -> models.IncidentList:
    with db.transaction(settings()) as conn:
        rows = alert_store.list_incidents(conn, open_only, limit)
    return models.IncidentList(incidents=[incident_model(r) for r in rows])


def incident(incident_id: int) -> models.IncidentDetail:
    with db.transaction(settings()) as conn:
        row = alert_store.incident(conn, incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        events = alert_store.incident_events(conn, incident_id)
        sent = alert_store.notifications_of(conn, incident_id)
    return models.IncidentDetail(
        incident=incident_model(row),
        timeline=[models.TimelineItem(**e) for e in events],
        notifications=[models.NotificationOut(**n) for n in sent],
    )


def oncall() -> models.OnCall:
    now = datetime.now(UTC)
    with db.transaction(settings()) as conn:
        rows = alert_store.list_incidents(conn, True, 500)
        silences = alert_store.list_silences(conn, now, False)
    open_ = [incident_model(r) for r in rows]
    firing = sorted((i for i in open_ if i.status == "firing"), key=lambda i: i.acknowledged_by is not None)
    active = sum(1 for s in silences if s["starts_at"] <= now)
    return models.OnCall(firing=firing, pending=[i for i in open_ if i.status == "pending"], silences_active=active)


def firing_count() -> int:
    """The navigation badge: firing incidents nobody has acknowledged."""
    with db.transaction(settings()) as conn:
        return alert_store.count_firing(conn)


def silences(include_ended: bool) -> models.SilenceList:
    with db.transaction(settings()) as conn:
        rows = alert_store.list_silences(conn, datetime.now(UTC), include_ended)
    return models.SilenceList(silences=[models.SilenceOut(**r) for r in rows])


def channels() -> models.ChannelList:
    with db.transaction(settings()) as conn:
        rows = alert_store.list_channels(conn)
    return models.ChannelList(
        channels=[
            models.ChannelOut(name=c["name"], type=c["type"], config=c["config"], has_secret=bool(c["secret"]))
            for c in rows
        ]  # fmt: skip
    )


def rule_preview(body: models.PreviewIn) -> models.PreviewOut:
    """The rule (saved or not) replayed over the span: its values, thresholds, and what it would have done."""
    candidate = manage.parse(definition_of(body.definition))
    if candidate.query.type == "platform":
        raise AccessError("platform rules read live metrics that keep no history: there is nothing to preview")
    times = preview.steps(candidate, body.span, time.time())
    with db.transaction(settings()) as conn:
        results = preview.history(candidate, times, services().warehouse(), conn)
    shown = preview.preview(candidate, results)
    return _preview_answer(candidate, results, shown, times)


def _preview_answer(
    rule: Rule,
    results: list[tuple[float, Any]],
    shown: preview.Preview,
    times: list[float],
) -> models.PreviewOut:
    points: list[models.PreviewPoint] = []
    by_key: dict[str, dict[float, float]] = defaultdict(dict)
    for at, result in results:
        for sample in result.samples:
            key = group_key_text(sample.key)
            by_key[key][at] = sample.value
            points.append(models.PreviewPoint(at=_utc(at), group_key=key, value=sample.value))
    # The keys that came closest to (or furthest past) the threshold, in the comparator's direction.
    lower_is_worse = rule.comparator in ("<", "<=")
    ranked = sorted(by_key, key=lambda k: (min if lower_is_worse else max)(by_key[k].values()),
                    reverse=not lower_is_worse)[:MAX_SERIES]  # fmt: skip
    x = [_utc(t) for t in times]
    series = [Series(name=k if rule.group_by else rule.name, x=x, y=[by_key[k].get(t) for t in times])
              for k in ranked]  # fmt: skip
    own = CRITICAL_COLOUR if rule.severity == "critical" else WARNING_COLOUR
    thresholds = [Threshold(rule.threshold, f"{rule.severity} {rule.comparator} {rule.threshold:g}", own)]
    if rule.critical_threshold is not None:
        thresholds.append(Threshold(rule.critical_threshold, f"critical {rule.comparator} {rule.critical_threshold:g}"))
    markers = [Marker(_utc(e.at), e.kind, MARKER_COLOURS[e.kind]) for e in shown.timeline if e.kind in MARKER_COLOURS][
        :MAX_MARKERS
    ]
    chart = Chart(series=series, unit=UNITS.get(rule.query.type, ""), thresholds=thresholds, markers=markers)
    timeline = [
        models.TimelineItem(
            at=_utc(e.at), kind=e.kind, group_key=group_key_text(e.group_key), value=e.value, detail=e.detail
        )  # fmt: skip
        for e in shown.timeline
    ]
    sends = [models.PreviewNotification(at=_utc(at), kind=kind) for at, kind in shown.notifications]
    drawn = figure(chart)
    for trace in drawn["data"]:
        # Steps are sparse (a value every 15 min or 2 h, often only a few with data): points show each one.
        trace.update(mode="lines+markers", marker={"size": 5, "color": trace["line"]["color"]})
    return models.PreviewOut(
        figure=Figure(**drawn),
        data=points,
        timeline=timeline,
        notifications=sends,
        fired=sum(1 for e in shown.timeline if e.kind == "firing"),
        step_s=int(times[1] - times[0]) if len(times) > 1 else rule.interval_s,
        evaluations=len(times),
        errors=sum(1 for _, r in results if r.error is not None),
        series_shown=len(series),
        series_total=len(by_key),
    )


def new_rule_template(channel_names: list[str]) -> str:
    return (
        "name: payments-errors\n"
        "description: Error logs from the payments service\n"
        "severity: warning            # info | warning | critical\n"
        "query: {type: log_count, service: payments, level: [error, fatal]}\n"
        "group_by: [service]\n"
        "window: 5m\n"
        'comparator: ">"\n'
        "threshold: 50\n"
        "for: 2m                      # pending this long before firing\n"
        "interval: 30s\n"
        f"channels: [{', '.join(channel_names[:1])}]\n"
        "runbook_url: https://runbooks.example/payments-errors\n"
    )


def rule_yaml(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)
