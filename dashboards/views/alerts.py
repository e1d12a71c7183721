"""The alert pages: on call (what is firing, incidents firing first), rules and the rule editor with its preview,
an incident's timeline, silences, channels with a test button. Forms post here; the preview chart is drawn by
static/alerts.js from the JSON API (dashboards/views/alerts_api.py), which reads the same data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState

from access.errors import AccessError
from alerts import manage
from alerts import oncall as on_call
from alerts.rules import QUERY_TYPES
from dashboards import navigation
from dashboards.models import alerts as models
from dashboards.security import actor, requires
from dashboards.views import alerts_data as data
from dashboards.views.alerts_api import duration_of, silence_incident, test_channel
from dashboards.views.common import parse_form, settings

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
SILENCE_CHOICES = (("30m", "30 minutes"), ("1h", "1 hour"), ("4h", "4 hours"), ("1d", "1 day"), ("7d", "7 days"))


@bp.record_once
def _badge(state: BlueprintSetupState) -> None:
    navigation.badge(state.app, "alerts.oncall", data.firing_count)


def _done(message: str, endpoint: str, **values: Any) -> Response:
    flash(message, "success")
    return redirect(url_for(endpoint, **values), 303)


def _problems(exc: AccessError) -> list[str]:
    return exc.problems if isinstance(exc, manage.InvalidRule) else [str(exc)]


@bp.get("")
@requires("viewer")
def oncall() -> str:
    return render_template("alerts_oncall.html", tab="oncall", now=data.oncall(), recent=data.incidents(False, 50))


@bp.get("/rules")
@requires("viewer")
def rules() -> str:
    return render_template("alerts_rules.html", tab="rules", rules=data.rules().rules)


def _editor(status: int = 200, *, name: str | None = None, source: str | None = None, **extra: Any) -> tuple[str, int]:
    shown = data.rule(name) if name else None
    channels = [c.name for c in data.channels().channels]
    text = source if source is not None else (data.rule_yaml(shown.definition) if shown else
                                              data.new_rule_template(channels))  # fmt: skip
    page = render_template("alerts_rule.html", tab="rules", shown=shown, source=text, channels=channels,
                           query_types=QUERY_TYPES, **extra)  # fmt: skip
    return page, status


@bp.get("/rules/new")
@requires("viewer")
def new_rule() -> tuple[str, int]:
    return _editor()


@bp.post("/rules/new")
@requires("operator")
def create_rule() -> Response | tuple[str, int]:
    source = request.form.get("definition", "")
    try:
        created = manage.save_rule(settings(), actor(), data.definition_of(source), create=True)
    except AccessError as exc:
        return _editor(exc.status, source=source, problems=_problems(exc))
    return _done(f"Rule “{created.name}” created. It is evaluated every {created.interval_s}s.", "alerts.rule",
                 name=created.name)  # fmt: skip


@bp.get("/rules/<name>")
@requires("viewer")
def rule(name: str) -> tuple[str, int]:
    return _editor(name=name)


@bp.post("/rules/<name>")
@requires("operator")
def update_rule(name: str) -> Response | tuple[str, int]:
    source = request.form.get("definition", "")
    try:
        manage.save_rule(settings(), actor(), data.definition_of(source), create=False, name=name)
    except AccessError as exc:
        return _editor(exc.status, name=name, source=source, problems=_problems(exc))
    return _done(f"Rule “{name}” saved.", "alerts.rule", name=name)


@bp.post("/rules/<name>/enabled")
@requires("operator")
def set_enabled(name: str) -> Response | tuple[str, int]:
    enabled = request.form.get("enabled") == "true"
    try:
        manage.set_enabled(settings(), actor(), name, enabled)
    except AccessError as exc:
        return _editor(exc.status, name=name, problems=_problems(exc))
    done = "enabled" if enabled else "disabled: its open incidents are resolved"
    return _done(f"Rule “{name}” {done}.", "alerts.rule", name=name)


@bp.post("/rules/<name>/delete")
@requires("operator")
def delete_rule(name: str) -> Response | tuple[str, int]:
    try:
        closed = manage.delete_rule(settings(), actor(), name)
    except AccessError as exc:
        return _editor(exc.status, name=name, problems=_problems(exc))
    resolved = f" {len(closed)} open incident(s) resolved." if closed else ""
    return _done(f"Rule “{name}” deleted.{resolved}", "alerts.rules")


def _incident_page(incident_id: int, status: int = 200, **extra: Any) -> tuple[str, int]:
    page = render_template("alerts_incident.html", tab="oncall", shown=data.incident(incident_id),
                           silence_choices=SILENCE_CHOICES, **extra)  # fmt: skip
    return page, status


@bp.get("/incidents/<int:incident_id>")
@requires("viewer")
def incident(incident_id: int) -> tuple[str, int]:
    return _incident_page(incident_id)


@bp.post("/incidents/<int:incident_id>/acknowledge")
@requires("operator")
def acknowledge(incident_id: int) -> Response | tuple[str, int]:
    try:
        on_call.acknowledge(settings(), incident_id, actor())
    except AccessError as exc:
        return _incident_page(incident_id, exc.status, error=str(exc))
    return _done("Acknowledged: no more repeats until it resolves.", "alerts.incident", incident_id=incident_id)


@bp.post("/incidents/<int:incident_id>/silence")
@requires("operator")
def silence(incident_id: int) -> Response | tuple[str, int]:
    try:
        wanted = parse_form(models.SilenceFor, {"duration": request.form.get("duration"),
                                                "comment": request.form.get("comment")})  # fmt: skip
        silence_incident(incident_id, wanted)
    except AccessError as exc:
        return _incident_page(incident_id, exc.status, error=str(exc))
    return _done(f"Silenced for {wanted.duration}: notifications stop, the timeline goes on.", "alerts.incident",
                 incident_id=incident_id)  # fmt: skip


def _silences_page(status: int = 200, **extra: Any) -> tuple[str, int]:
    show_all = request.args.get("all") == "1"
    page = render_template("alerts_silences.html", tab="silences", silences=data.silences(show_all).silences,
                           show_all=show_all, silence_choices=SILENCE_CHOICES, **extra)  # fmt: skip
    return page, status


@bp.get("/silences")
@requires("viewer")
def silences() -> tuple[str, int]:
    return _silences_page()


def matchers_of(text: str) -> dict[str, str]:
    """``rule=api-errors, service=payments`` -> {"rule": "api-errors", "service": "payments"}."""
    pairs = [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]
    bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0].strip()]
    if bad or not pairs:
        raise AccessError("write matchers as label=value, separated by commas (e.g. rule=api-error-rate-high)")
    return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}


@bp.post("/silences")
@requires("operator")
def create_silence() -> Response | tuple[str, int]:
    form = request.form
    try:
        wanted = parse_form(models.SilenceFor, {"duration": form.get("duration"), "comment": form.get("comment")})
        on_call.silence(settings(), matchers_of(form.get("matchers", "")), duration_of(wanted.duration), actor(),
                       wanted.comment)  # fmt: skip
    except AccessError as exc:
        return _silences_page(exc.status, error=str(exc), form=form)
    return _done("Silence created.", "alerts.silences")


@bp.post("/silences/<int:silence_id>/expire")
@requires("operator")
def expire_silence(silence_id: int) -> Response | tuple[str, int]:
    try:
        on_call.expire(settings(), silence_id, actor())
    except AccessError as exc:
        return _silences_page(exc.status, error=str(exc))
    return _done("Silence ended: alerts it held are announced at their next evaluation.", "alerts.silences")


def _channels_page(status: int = 200, **extra: Any) -> tuple[str, int]:
    page = render_template("alerts_channels.html", tab="channels", channels=data.channels().channels, **extra)
    return page, status


@bp.get("/channels")
@requires("viewer")
def channels() -> tuple[str, int]:
    return _channels_page()


def channel_document(form: Any) -> dict[str, Any]:
    """The channel form as a channel document: the field its type uses (url or to), the secret if typed."""
    kind = form.get("type", "")
    doc: dict[str, Any] = {"name": form.get("name", "").strip(), "type": kind}
    target = form.get("target", "").strip()
    if kind == "email":
        doc["to"] = [a.strip() for a in target.split(",") if a.strip()]
    elif target:
        doc["url"] = target
    if form.get("secret"):
        doc["secret"] = form["secret"]
    return doc


@bp.post("/channels")
@requires("admin")
def save_channel() -> Response | tuple[str, int]:
    form = request.form
    create = form.get("mode") != "update"
    try:
        saved = manage.save_channel(settings(), actor(), channel_document(form), create=create)
    except AccessError as exc:
        return _channels_page(exc.status, error="; ".join(_problems(exc)), form=form)
    return _done(f"Channel “{saved.name}” {'created' if create else 'saved'}.", "alerts.channels")


@bp.post("/channels/<name>/test")
@requires("operator")
def test(name: str) -> Response | tuple[str, int]:
    try:
        result = test_channel(name)
    except AccessError as exc:
        return _channels_page(exc.status, error=str(exc))
    if not result.ok:
        return _channels_page(error=f"Test notification through “{name}” {result.detail}")
    return _done(f"Test notification through “{name}”: {result.detail}.", "alerts.channels")
