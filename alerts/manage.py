"""Changing rules and channels from the web app and the JSON API: validated as rules-as-code validates them,
each change and its audit row in one transaction (:func:`access.audit.audited`).

Disabling or deleting a rule closes its open incidents in that same transaction (:func:`retire_incidents`):
the scheduler stops evaluating a disabled rule, so nothing else would ever resolve them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg

from access import db
from access.audit import Actor, Change, audited
from access.errors import AccessError, Conflict, NotFound
from alerts import messages
from alerts.engine import AlertView, Notice
from alerts.rules import Channel, Rule, RuleError, parse_channel, parse_rule
from lookout.settings import Settings
from warehouse.queries import alert_store


class InvalidRule(AccessError):
    """A rule or channel that does not validate; ``problems`` names each field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse(raw: Any, source: str = "rule") -> Rule:
    try:
        return parse_rule(raw, source, 0)
    except RuleError as exc:
        raise InvalidRule(exc.problems) from None


def retire_incidents(
    conn: psycopg.Connection, rule_id: int, rule: Rule, reason: str, now: float, public_url: str
) -> list[int]:
    """Resolve every open incident of a rule being disabled or deleted, with ``reason`` on its timeline, and
    forget the rule's state; firing alerts that were announced get a resolve notification. The ids closed."""
    state = alert_store.lock_state(conn, rule_id)
    announced = set((state["runtime"] or {}).get("group", {}).get("sent_firing", ()))
    at = datetime.fromtimestamp(now, UTC)
    incidents = alert_store.open_incidents_of(conn, rule_id)
    for incident in incidents:
        alert_store.record_timeline(
            conn, rule_id, incident["fingerprint"], incident["group_key"], "resolved", at, None, reason,
            incident["severity"],
        )  # fmt: skip
    alert_store.reset_state(conn, rule_id)
    told = [i for i in incidents if i["status"] == "firing" and i["fingerprint"] in announced]
    if told and rule.channels:
        views = tuple(
            AlertView(
                i["fingerprint"],
                i["group_key"],
                "resolved",
                i["last_value"],
                i["severity"] or rule.severity,
                i["firing_at"].timestamp() if i["firing_at"] else None,
            )  # fmt: skip
            for i in told
        )
        payload = messages.build_payload(rule, Notice("resolved", (), views), now, public_url)
        for channel in alert_store.channels_named(conn, rule.channels):
            alert_store.queue_notification(conn, rule_id, channel["id"], [i["id"] for i in told], "resolved", payload)
    return [i["id"] for i in incidents]


def _unknown_channels(conn: psycopg.Connection, rule: Rule) -> None:
    known = {c["name"] for c in alert_store.channels_named(conn, rule.channels)}
    missing = [name for name in rule.channels if name not in known]
    if missing:
        raise InvalidRule([f"rule {rule.name!r}: field 'channels': unknown channel {n!r}" for n in missing])


def save_rule(
    settings: Settings, actor: Actor, raw: Mapping[str, Any], *, create: bool, name: str | None = None
) -> Rule:
    """Create a rule (refused if the name exists) or replace the rule ``name`` (the document must keep it)."""
    rule = parse(raw)
    if name is not None and rule.name != name:
        raise InvalidRule([f"rule {name!r}: field 'name': a rule cannot be renamed (create a new one, delete this)"])
    now = time.time()

    def mutate(conn: psycopg.Connection) -> Change[Rule]:
        _unknown_channels(conn, rule)
        existing = alert_store.rule_named(conn, rule.name, lock=True)
        if create and existing is not None:
            raise Conflict(f"a rule named {rule.name!r} already exists")
        if not create and existing is None:
            raise NotFound(f"no rule named {rule.name!r}")
        _, rule_id, old = alert_store.save_rule(
            conn, rule.name, rule.to_dict(), rule.enabled, rule.interval_s, actor.name
        )
        closed = (
            [] if rule.enabled else retire_incidents(conn, rule_id, rule, "rule disabled", now, settings.public_url)
        )
        meta = {"incidents_resolved": closed} if closed else {}
        return Change(rule, str(rule_id), old=old, new=rule.to_dict(), metadata=meta)

    action = "alert_rule.create" if create else "alert_rule.update"
    return audited(settings, actor, action, "alert_rule", mutate, resource_id=rule.name)


def get_rule(settings: Settings, name: str) -> tuple[dict[str, Any], Rule]:
    with db.transaction(settings) as conn:
        row = alert_store.rule_named(conn, name)
    if row is None:
        raise NotFound(f"no rule named {name!r}")
    return row, parse(row["definition"], f"stored rule {name}")


def set_enabled(settings: Settings, actor: Actor, name: str, enabled: bool) -> Rule:
    _, rule = get_rule(settings, name)
    return save_rule(settings, actor, {**rule.to_dict(), "enabled": enabled}, create=False, name=name)


def delete_rule(settings: Settings, actor: Actor, name: str) -> list[int]:
    """Delete a rule (its row stays, marked deleted, for its incidents' history); the incidents it closed."""
    now = time.time()

    def mutate(conn: psycopg.Connection) -> Change[list[int]]:
        row = alert_store.rule_named(conn, name, lock=True)
        if row is None:
            raise NotFound(f"no rule named {name!r}")
        if row["builtin"]:
            raise Conflict(f"{name!r} is a built-in rule: disable it instead of deleting it")
        rule = parse(row["definition"], f"stored rule {name}")
        closed = retire_incidents(conn, row["id"], rule, "rule deleted", now, settings.public_url)
        alert_store.mark_rule_deleted(conn, row["id"], actor.name)
        meta = {"incidents_resolved": closed} if closed else {}
        return Change(closed, str(row["id"]), old=row["definition"], metadata=meta)

    return audited(settings, actor, "alert_rule.delete", "alert_rule", mutate, resource_id=name)


def parse_channel_document(raw: Any) -> Channel:
    try:
        return parse_channel(raw, "channel", 0)
    except RuleError as exc:
        raise InvalidRule(exc.problems) from None


def save_channel(settings: Settings, actor: Actor, raw: Mapping[str, Any], *, create: bool) -> Channel:
    """Create a channel (refused if the name exists) or update one; a missing secret keeps the stored one."""
    channel = parse_channel_document(raw)

    def mutate(conn: psycopg.Connection) -> Change[Channel]:
        existing = alert_store.channel_named(conn, channel.name)
        if create and existing is not None:
            raise Conflict(f"a channel named {channel.name!r} already exists")
        if not create and existing is None:
            raise NotFound(f"no channel named {channel.name!r}")
        if channel.type == "pagerduty" and channel.secret is None and not (existing and existing["secret"]):
            raise InvalidRule([f"channel {channel.name!r}: field 'secret': required: the PagerDuty routing key"])
        _, channel_id, old, new = alert_store.save_channel(
            conn, channel.name, channel.type, channel.config, channel.secret
        )
        return Change(channel, str(channel_id), old=old, new=new)

    action = "alert_channel.create" if create else "alert_channel.update"
    return audited(settings, actor, action, "alert_channel", mutate, resource_id=channel.name)
