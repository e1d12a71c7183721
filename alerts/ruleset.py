"""Rules as code: apply a rules document (idempotent, with a diff) and export the stored rules.

:func:`diff` is pure; :func:`apply` writes every change of a document in one
transaction, each with its audit row, or nothing when one is invalid.
Rules and channels not named in the document are left as they are.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from access.audit import Actor, entry, redact
from alerts.manage import retire_incidents
from alerts.rules import Channel, Rule, RuleError, RuleSet, parse_rule
from lookout.settings import Settings
from warehouse import postgres
from warehouse.queries import alert_store, audit


@dataclass(frozen=True)
class Change:
    kind: str  # rule | channel
    name: str
    action: str  # create | update | unchanged
    fields: tuple[str, ...] = ()  # "threshold: 5.0 -> 10.0", for updates

    def __str__(self) -> str:
        mark = {"create": "+", "update": "~", "unchanged": "="}[self.action]
        head = f"{mark} {self.kind} {self.name}" + ("" if self.action == "unchanged" else f" ({self.action})")
        return "\n".join([head, *(f"    {f}" for f in self.fields)])


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    )


def diff(
    wanted: RuleSet,
    stored_rules: Mapping[str, Rule],
    stored_channels: Mapping[str, Channel],
    source: str,
) -> list[Change]:
    """What applying ``wanted`` changes; raises :class:`RuleError` for rules naming unknown channels."""
    known = set(stored_channels) | {c.name for c in wanted.channels}
    problems = [
        f"{source}: rule {r.name!r}: field 'channels': unknown channel {name!r} (define it under 'channels')"
        for r in wanted.rules
        for name in r.channels
        if name not in known
    ]
    # An exported file has no secrets: a PagerDuty channel needs one only if none is stored yet.
    problems += [
        f"{source}: channel {c.name!r}: field 'secret': required: the PagerDuty integration's routing key"
        for c in wanted.channels
        if c.type == "pagerduty" and c.secret is None and (stored_channels.get(c.name) or c).secret is None
    ]
    if problems:
        raise RuleError(problems)
    changes: list[Change] = []
    for channel in wanted.channels:
        old = stored_channels.get(channel.name)
        if old is None:
            changes.append(Change("channel", channel.name, "create"))
            continue
        fields = _field_changes(old.to_dict(), channel.to_dict())
        if channel.secret is not None and channel.secret != old.secret:
            fields += ("secret: changed",)
        changes.append(Change("channel", channel.name, "update" if fields else "unchanged", fields))
    for rule in wanted.rules:
        previous = stored_rules.get(rule.name)
        if previous is None:
            changes.append(Change("rule", rule.name, "create"))
        else:
            fields = _field_changes(previous.to_dict(), rule.to_dict())
            changes.append(Change("rule", rule.name, "update" if fields else "unchanged", fields))
    return changes


def _stored(conn: Any) -> tuple[dict[str, Rule], dict[str, Channel]]:
    rules = {r["name"]: parse_rule(r["definition"], "stored rule", 0) for r in alert_store.list_rules(conn)}
    channels = {
        c["name"]: Channel(c["name"], c["type"], c["config"], c["secret"]) for c in alert_store.list_channels(conn)
    }
    return rules, channels


def apply(settings: Settings, wanted: RuleSet, source: str, actor: str, dry_run: bool = False) -> list[Change]:
    """Every change of the document, each with its audit row, in one transaction; a rule the document
    disables has its open incidents resolved in it too (alerts.manage.retire_incidents)."""
    who = Actor(actor)
    now = time.time()
    with postgres.connect(settings.postgres_dsn) as conn:
        stored_rules, stored_channels = _stored(conn)
        changes = diff(wanted, stored_rules, stored_channels, source)
        if dry_run:
            conn.rollback()
            return changes
        for channel in wanted.channels:
            action, channel_id, old, new = alert_store.save_channel(
                conn, channel.name, channel.type, channel.config, channel.secret
            )
            if action != "unchanged":
                _audit(conn, who, f"alert_channel.{action[:-1]}", "alert_channel", channel_id, old, new)
        for rule, change in zip(wanted.rules, [c for c in changes if c.kind == "rule"], strict=True):
            if change.action == "unchanged":
                continue
            action, rule_id, old = alert_store.save_rule(
                conn, rule.name, rule.to_dict(), rule.enabled, rule.interval_s, actor
            )
            closed = [] if rule.enabled else retire_incidents(conn, rule_id, rule, "rule disabled", now,
                                                                settings.public_url)  # fmt: skip
            meta = {"incidents_resolved": closed} if closed else {}
            _audit(conn, who, f"alert_rule.{action[:-1]}", "alert_rule", rule_id, old, rule.to_dict(), meta)
        conn.commit()
    return changes


def _audit(
    conn: Any,
    who: Actor,
    action: str,
    resource_type: str,
    resource_id: int,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    audit.record(
        conn,
        entry(who, action, resource_type, str(resource_id), old_values=redact(old), new_values=redact(new),
              metadata=dict(metadata or {})),
    )  # fmt: skip


def export(settings: Settings) -> dict[str, Any]:
    """Every stored channel (without secrets) and rule, as a document :func:`apply` takes back unchanged."""
    with postgres.connect(settings.postgres_dsn) as conn:
        rules, channels = _stored(conn)
    return {
        "channels": [c.to_dict() for c in channels.values()],
        "rules": [r.to_dict() for r in rules.values()],
    }
