"""The alerting JSON API under /api/v1/alerts: rules (with preview), incidents, silences, channels, on call.

Reading is for every role. Operators run the on-call work and the rules (create, edit, disable, delete,
preview, acknowledge, silence, test a channel); channels hold destinations and signing secrets, so only
admins create or change them. Every change is audited in its own transaction (alerts/manage.py, oncall.py).
"""

from __future__ import annotations

from flask import Blueprint

from access.errors import AccessError, NotFound
from alerts import delivery, manage, oncall
from alerts.rules import RuleError, parse_duration
from dashboards.api_spec import ApiSpec
from dashboards.models import alerts as models
from dashboards.security import actor
from dashboards.views import alerts_data as data
from dashboards.views.common import settings

TAG = "alerts"


def duration_of(text: str) -> int:
    try:
        return parse_duration(text, "duration")
    except RuleError as exc:
        raise AccessError(str(exc)) from None


def silence_incident(incident_id: int, body: models.SilenceFor) -> models.Created:
    """Silence exactly this incident's alert (its rule and group key) for a while."""
    shown = data.incident(incident_id).incident
    matchers = {**shown.group_key, "rule": shown.rule}
    silence_id = oncall.silence(settings(), matchers, duration_of(body.duration), actor(), body.comment)
    return models.Created(id=silence_id)


def test_channel(name: str) -> models.TestResult:
    outcome = delivery.send_test(settings(), name)
    if not outcome.ok and outcome.status_code is None and outcome.error.startswith("no channel named"):
        raise NotFound(outcome.error)
    return models.TestResult(ok=outcome.ok, status_code=outcome.status_code, detail=str(outcome))


def register(bp: Blueprint, spec: ApiSpec) -> None:
    op = spec.operation

    @op(bp, "/alerts/oncall", "GET", summary="What is firing and pending now", role="viewer", tag=TAG,
        response=models.OnCall)  # fmt: skip
    def alerts_oncall() -> models.OnCall:
        return data.oncall()

    @op(bp, "/alerts/rules", "GET", summary="Alert rules with their state and last evaluation", role="viewer",
        tag=TAG, response=models.RuleList)  # fmt: skip
    def alerts_rules() -> models.RuleList:
        return data.rules()

    @op(bp, "/alerts/rules", "POST", summary="Create a rule", role="operator", tag=TAG, body=models.RuleBody,
        response=models.RuleOut, status=201)  # fmt: skip
    def alerts_create_rule(body: models.RuleBody) -> models.RuleOut:
        created = manage.save_rule(settings(), actor(), data.definition_of(body.definition), create=True)
        return data.rule(created.name)

    @op(bp, "/alerts/rules/<name>", "GET", summary="One rule, as rules-as-code writes it", role="viewer", tag=TAG,
        response=models.RuleOut)  # fmt: skip
    def alerts_rule(name: str) -> models.RuleOut:
        return data.rule(name)

    @op(bp, "/alerts/rules/<name>", "PUT", summary="Replace a rule (disabling it resolves its open incidents)",
        role="operator", tag=TAG, body=models.RuleBody, response=models.RuleOut)  # fmt: skip
    def alerts_update_rule(name: str, body: models.RuleBody) -> models.RuleOut:
        manage.save_rule(settings(), actor(), data.definition_of(body.definition), create=False, name=name)
        return data.rule(name)

    @op(bp, "/alerts/rules/<name>", "PATCH", summary="Enable or disable a rule (disabling resolves its incidents)",
        role="operator", tag=TAG, body=models.RuleEnabled, response=models.RuleOut)  # fmt: skip
    def alerts_enable_rule(name: str, body: models.RuleEnabled) -> models.RuleOut:
        manage.set_enabled(settings(), actor(), name, body.enabled)
        return data.rule(name)

    @op(bp, "/alerts/rules/<name>", "DELETE", summary="Delete a rule (its open incidents resolve; history stays)",
        role="operator", tag=TAG)  # fmt: skip
    def alerts_delete_rule(name: str) -> None:
        manage.delete_rule(settings(), actor(), name)

    @op(bp, "/alerts/preview", "POST", summary="Replay a rule (saved or not) over the last 24 h or 7 d",
        role="operator", tag=TAG, body=models.PreviewIn, response=models.PreviewOut)  # fmt: skip
    def alerts_preview(body: models.PreviewIn) -> models.PreviewOut:
        return data.rule_preview(body)

    @op(bp, "/alerts/incidents", "GET", summary="Incidents, firing first, then pending, then resolved",
        role="viewer", tag=TAG, query=models.IncidentFilter, response=models.IncidentList)  # fmt: skip
    def alerts_incidents(query: models.IncidentFilter) -> models.IncidentList:
        return data.incidents(query.open, query.limit)

    @op(bp, "/alerts/incidents/<int:incident_id>", "GET", summary="An incident with its timeline", role="viewer",
        tag=TAG, response=models.IncidentDetail)  # fmt: skip
    def alerts_incident(incident_id: int) -> models.IncidentDetail:
        return data.incident(incident_id)

    @op(bp, "/alerts/incidents/<int:incident_id>/acknowledge", "POST",
        summary="Acknowledge a firing incident (no more repeats until it resolves)", role="operator", tag=TAG,
        response=models.IncidentDetail)  # fmt: skip
    def alerts_acknowledge(incident_id: int) -> models.IncidentDetail:
        oncall.acknowledge(settings(), incident_id, actor())
        return data.incident(incident_id)

    @op(bp, "/alerts/incidents/<int:incident_id>/silence", "POST",
        summary="Silence this incident's alert (rule and group key) for a duration", role="operator", tag=TAG,
        body=models.SilenceFor, response=models.Created, status=201)  # fmt: skip
    def alerts_silence_incident(incident_id: int, body: models.SilenceFor) -> models.Created:
        return silence_incident(incident_id, body)

    @op(bp, "/alerts/silences", "GET", summary="Running and future silences", role="viewer", tag=TAG,
        query=models.SilenceFilter, response=models.SilenceList)  # fmt: skip
    def alerts_silences(query: models.SilenceFilter) -> models.SilenceList:
        return data.silences(query.all)

    @op(bp, "/alerts/silences", "POST", summary="Silence alerts matching labels for a duration", role="operator",
        tag=TAG, body=models.SilenceCreate, response=models.Created, status=201)  # fmt: skip
    def alerts_create_silence(body: models.SilenceCreate) -> models.Created:
        silence_id = oncall.silence(settings(), body.matchers, duration_of(body.duration), actor(), body.comment)
        return models.Created(id=silence_id)

    @op(bp, "/alerts/silences/<int:silence_id>", "DELETE", summary="End a silence now", role="operator", tag=TAG)
    def alerts_expire_silence(silence_id: int) -> None:
        oncall.expire(settings(), silence_id, actor())

    @op(bp, "/alerts/channels", "GET", summary="Notification channels (secrets never shown)", role="viewer",
        tag=TAG, response=models.ChannelList)  # fmt: skip
    def alerts_channels() -> models.ChannelList:
        return data.channels()

    @op(bp, "/alerts/channels", "POST", summary="Create a channel", role="admin", tag=TAG, body=models.ChannelBody,
        response=models.ChannelOut, status=201)  # fmt: skip
    def alerts_create_channel(body: models.ChannelBody) -> models.ChannelOut:
        return _channel(manage.save_channel(settings(), actor(), body.definition, create=True).name)

    @op(bp, "/alerts/channels/<name>", "PUT", summary="Change a channel (a missing secret keeps the stored one)",
        role="admin", tag=TAG, body=models.ChannelBody, response=models.ChannelOut)  # fmt: skip
    def alerts_update_channel(name: str, body: models.ChannelBody) -> models.ChannelOut:
        if body.definition.get("name", name) != name:
            raise AccessError("a channel cannot be renamed: create a new one")
        return _channel(manage.save_channel(settings(), actor(), {**body.definition, "name": name}, create=False).name)

    @op(bp, "/alerts/channels/<name>/test", "POST", summary="Send a test notification through a channel now",
        role="operator", tag=TAG, response=models.TestResult)  # fmt: skip
    def alerts_test_channel(name: str) -> models.TestResult:
        return test_channel(name)


def _channel(name: str) -> models.ChannelOut:
    return next(c for c in data.channels().channels if c.name == name)
