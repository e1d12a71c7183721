"""Security events: filter by severity, type, address, account and state; an address's history across all
security events and logs; the investigation workflow (an operator marks one event, or every open event a
filter matches, investigated or a false positive, with notes; each action audited). Uninvestigated critical
events are counted beside the page's link. The page (/security) and its JSON twins under /api/v1/security."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from flask import Blueprint, Flask, Response, current_app, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_login import current_user

from access import db, security_review
from access.accounts import role_allows
from access.errors import AccessError
from dashboards import navigation
from dashboards.api_spec import ApiSpec
from dashboards.charts import SEVERITY_COLOURS
from dashboards.models import health as models
from dashboards.models.panels import Cell, Column, Table
from dashboards.params import BadParameter
from dashboards.security import actor, requires
from dashboards.shaping import fill_gaps
from dashboards.views.common import parse_form, services, settings
from dashboards.views.health_panels import answer, chart_query, iso, page_filter, span_of, stacked_events, step_of, utc
from warehouse import clickhouse
from warehouse.queries import ip_logs, security_events
from warehouse.queries.security_events import SEVERITIES, SecurityFilter

bp = Blueprint("security_events", __name__, url_prefix="/security")
# The badge is counted on every page view: a few seconds' delay costs nothing, a query per view does.
BADGE_TTL_S = 5.0
LOGS_LIMIT = 100


class OpenCriticalBadge:
    """Uninvestigated critical events, counted at most once per BADGE_TTL_S per process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.value = 0
        self.counted_at = -BADGE_TTL_S

    def __call__(self) -> int:
        with self.lock:
            if time.monotonic() - self.counted_at >= BADGE_TTL_S:
                self.value = security_review.open_critical(self.app.config["LOOKOUT_SETTINGS"])
                self.counted_at = time.monotonic()
            return self.value

    def forget(self) -> None:
        """After an investigation here, the next page counts again."""
        with self.lock:
            self.counted_at = -BADGE_TTL_S


@bp.record_once
def _badge(state: BlueprintSetupState) -> None:
    badge = OpenCriticalBadge(state.app)
    state.app.extensions["lookout_security_badge"] = badge
    navigation.badge(state.app, "security_events.index", badge)


def _forget_badge() -> None:
    current_app.extensions["lookout_security_badge"].forget()


def _ip(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise BadParameter(f"ip: {raw[:64]!r} is not an IPv4 or IPv6 address") from None


def _event_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadParameter(f"event_id: {raw[:64]!r} is not a UUID") from None


def to_filter(wanted: models.SecurityFilterQuery) -> SecurityFilter:
    span = span_of(wanted)
    severities = tuple(part.strip() for part in (wanted.severity or "").split(",") if part.strip())
    try:
        return SecurityFilter(
            span.start, span.end, severities, wanted.event_type, _ip(wanted.ip), wanted.account, wanted.state
        )
    except ValueError as exc:
        raise BadParameter(str(exc)) from None


def event_out(row: dict[str, Any]) -> models.SecurityEventOut:
    return models.SecurityEventOut(**{**row, "event_id": str(row["event_id"])})


def _events(wanted: models.SecurityFilterQuery, limit: int) -> tuple[list[dict[str, Any]], int]:
    chosen = to_filter(wanted)
    with db.transaction(settings()) as conn:
        return security_events.search(conn, chosen, limit), security_events.count(conn, chosen)


def _explore(text: str, span: Any) -> str:
    # The explorer's page is another area's: a plain path, as its endpoint may not be registered.
    return f"/explore?{urlencode({'q': text, 'from': span.raw_from, 'to': span.raw_to})}"


def _history(ip: str, wanted: models.SecurityFilterQuery) -> models.IpHistory:
    span = span_of(wanted)
    chosen = SecurityFilter(span.start, span.end, ip=ip)
    with db.transaction(settings()) as conn:
        events = security_events.search(conn, chosen, security_events.MAX_LIMIT)
    with clickhouse.translated():
        logs = ip_logs.for_ip(services().warehouse(), ip, span.start, span.end, LOGS_LIMIT)
    text = ip_logs.explorer_text(ip)
    return models.IpHistory(
        ip=ip,
        events=[event_out(row) for row in events],
        logs=[{**row, "event_id": str(row["event_id"]), "timestamp": iso(row["timestamp"])} for row in logs],
        logs_query=text,
        explorer_url=_explore(text, span),
    )


def register(api: Blueprint, spec: ApiSpec) -> None:
    op = spec.operation

    @op(
        api, "/security/events", "GET", summary="Security events matching a filter, newest first", role="viewer",
        tag="security", query=models.SecurityListQuery, response=models.SecurityEventList,
    )  # fmt: skip
    def security_event_list(query: models.SecurityListQuery) -> models.SecurityEventList:
        rows, matching = _events(query, query.limit)
        return models.SecurityEventList(events=[event_out(row) for row in rows], matching=matching)

    @op(
        api, "/security/events/<event_id>/investigation", "POST",
        summary="Mark one event investigated or a false positive, with notes (audited)", role="operator",
        tag="security", body=models.Investigation, response=models.SecurityEventOut,
    )  # fmt: skip
    def security_investigate(event_id: str, body: models.Investigation) -> models.SecurityEventOut:
        marked = security_review.mark(settings(), _event_id(event_id), body.outcome, body.notes, actor())
        _forget_badge()
        return event_out(marked)

    @op(
        api, "/security/investigations", "POST",
        summary="Mark every open event matching a filter investigated or a false positive (audited)",
        role="operator", tag="security", body=models.BulkInvestigation, response=models.BulkResult,
    )  # fmt: skip
    def security_investigate_matching(body: models.BulkInvestigation) -> models.BulkResult:
        marked = security_review.mark_matching(settings(), to_filter(body.filter), body.outcome, body.notes, actor())
        _forget_badge()
        return models.BulkResult(marked=marked)

    @op(
        api, "/security/ip/<ip>", "GET", summary="An address's security events and the logs that mention it",
        role="viewer", tag="security", query=models.SecurityFilterQuery, response=models.IpHistory,
    )  # fmt: skip
    def security_ip_history(ip: str, query: models.SecurityFilterQuery) -> models.IpHistory:
        return _history(_ip(ip) or "", query)

    @op(
        api, "/security/activity", "GET", summary="Security events per severity over time", role="viewer",
        tag="security", query=models.SecurityPanelQuery, response=models.SecurityActivity,
    )  # fmt: skip
    def security_activity(query: models.SecurityPanelQuery) -> models.SecurityActivity:
        chosen = to_filter(query)
        step = step_of(query.step, span_of(query))

        def compute() -> tuple[models.SecurityActivity, pd.DataFrame]:
            with db.transaction(settings()) as conn:
                rows = security_events.over_time(conn, chosen, step)
            raw = pd.DataFrame(rows, columns=["bucket", "severity", "events"])
            raw["bucket"] = pd.to_datetime(raw["bucket"], utc=True).dt.tz_localize(None)
            frame = fill_gaps(raw, chosen.start, chosen.end, step, by=("severity",), zero=("events",))
            drawn = stacked_events(frame, "severity", order=SEVERITIES, colours=SEVERITY_COLOURS)
            data = [
                models.SeverityPoint(bucket=utc(r["bucket"]), severity=r["severity"], events=int(r["events"]))
                for r in frame.to_dict("records")
            ]
            return models.SecurityActivity(figure=models.Figure(**drawn), step=step, data=data), frame

        answer("security.activity", query, compute)

    @op(
        api, "/security/types", "GET", summary="Per event type and severity: events, open, addresses",
        role="viewer", tag="security", query=models.SecurityPanelQuery, response=models.SecurityTypes,
    )  # fmt: skip
    def security_types(query: models.SecurityPanelQuery) -> models.SecurityTypes:
        chosen = to_filter(query)
        base = {k: v for k, v in request.args.items() if k not in ("format", "step")}

        def compute() -> tuple[models.SecurityTypes, pd.DataFrame]:
            with db.transaction(settings()) as conn:
                rows = [models.TypeRow(**row) for row in security_events.by_type(conn, chosen)]
            tones = {"critical": "danger", "high": "warn", "medium": "warn", "low": "muted"}
            columns = [
                Column(key="type", label="Event type"), Column(key="severity", label="Severity"),
                Column(key="events", label="Events", align="right"), Column(key="open", label="Open", align="right"),
                Column(key="addresses", label="Addresses", align="right"),
            ]  # fmt: skip
            cells = [
                {
                    "type": Cell(text=r.event_type,
                                 href=f"/security?{urlencode({**base, 'event_type': r.event_type})}"),
                    "severity": Cell(text=r.severity, tone=tones[r.severity]),
                    "events": Cell(text=f"{r.events:,}"),
                    "open": Cell(text=f"{r.open:,}", tone="danger" if r.open and r.severity == "critical" else None,
                                 href=f"/security?{urlencode({**base, 'event_type': r.event_type, 'state': 'open'})}"),
                    "addresses": Cell(text=f"{r.addresses:,}"),
                }
                for r in rows
            ]  # fmt: skip
            table = Table(columns=columns, rows=cells, empty="No security events match.")
            frame = pd.DataFrame([r.model_dump() for r in rows], columns=list(models.TypeRow.model_fields))
            return models.SecurityTypes(table=table, data=rows), frame

        answer("security.types", query, compute)


# ------------------------------------------------------------------------------------------------- pages


def _filter_args(wanted: models.SecurityFilterQuery) -> dict[str, str]:
    return {k: str(v) for k, v in wanted.model_dump(by_alias=True, exclude_none=True).items() if k != "limit"}


@bp.get("")
@requires("viewer")
def index() -> str:
    wanted, step = page_filter(models.SecurityListQuery)
    rows, matching = _events(wanted, wanted.limit)
    shared = _filter_args(wanted)
    return render_template(
        "security_events.html", span=span_of(wanted), filters=wanted, shared=shared, events=rows,
        matching=matching, activity_args=chart_query(shared, step),
        may_investigate=role_allows(current_user.role, "operator"), severities=SEVERITIES,
    )  # fmt: skip


def _back() -> Response:
    target = request.form.get("next", "")
    # Only a path on this site: never an absolute address an attacker could plant in the form.
    if not target.startswith("/security") or target.startswith("//"):
        target = url_for("security_events.index")
    return redirect(target, 303)


@bp.post("/events/<event_id>/investigate")
@requires("operator")
def investigate(event_id: str) -> Response:
    try:
        wanted = parse_form(models.Investigation, {"outcome": request.form.get("outcome"),
                                                   "notes": request.form.get("notes")})  # fmt: skip
        security_review.mark(settings(), _event_id(event_id), wanted.outcome, wanted.notes, actor())
    except (AccessError, BadParameter) as exc:
        flash(f"Not marked: {exc}", "error")
        return _back()
    _forget_badge()
    label = "a false positive" if wanted.outcome == "false_positive" else "investigated"
    flash(f"Marked the event {label}.", "success")
    return _back()


@bp.post("/investigate")
@requires("operator")
def investigate_matching() -> Response:
    form = request.form
    try:
        wanted = parse_form(models.SecurityFilterQuery, {k: form.get(k) for k in (
            "from", "to", "severity", "event_type", "ip", "account", "state")})  # fmt: skip
        body = parse_form(models.Investigation, {"outcome": form.get("outcome"), "notes": form.get("notes")})
        marked = security_review.mark_matching(settings(), to_filter(wanted), body.outcome, body.notes, actor())
    except (AccessError, BadParameter) as exc:
        flash(f"Nothing marked: {exc}", "error")
        return _back()
    _forget_badge()
    label = "false positives" if body.outcome == "false_positive" else "investigated"
    flash(f"Marked {marked} open event{'s' if marked != 1 else ''} {label}.", "success")
    return _back()


@bp.get("/ip/<ip>")
@requires("viewer")
def ip_history(ip: str) -> str:
    wanted = parse_form(models.SecurityFilterQuery, request.args.to_dict())
    address = _ip(ip) or ""
    return render_template(
        "security_ip.html", span=span_of(wanted), history=_history(address, wanted), ip=address,
        may_investigate=role_allows(current_user.role, "operator"),
    )  # fmt: skip
