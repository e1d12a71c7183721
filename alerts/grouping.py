"""When a rule's alerts are notified, and together: Alertmanager's grouping, dedup and repeat. Pure.

All alerts of one rule form one group and travel in one message:
- a group with nothing notified yet waits `group_wait` after its first firing
  alert, so alerts that fire together arrive together;
- a change to a notified group (an alert newly firing, one resolved) waits
  until `group_interval` after the last message;
- an unchanged group still firing is repeated every `renotify` (0: never);
- acknowledged alerts are not repeated; silenced ones are left out of messages
  (the timeline still records them) and count as new when the silence ends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.rules import Rule
from alerts.state import AlertState, Status


def group_key_text(key: Mapping[str, str]) -> str:
    """``{service="payments", endpoint="/pay"}``; ``{}`` for a rule without group_by."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(key.items())) + "}"


def fingerprint(rule_name: str, key: Mapping[str, str]) -> str:
    """The incident's identity (and PagerDuty dedup key): the rule and the group key."""
    raw = json.dumps([rule_name, sorted(key.items())], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: Mapping[str, str]  # label -> value; "rule" matches the rule's name
    starts_at: float
    ends_at: float
    author: str = ""
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all(labels.get(k) == v for k, v in self.matchers.items())


def alert_labels(rule: Rule, key: Mapping[str, str], severity: str) -> dict[str, str]:
    """The labels silences match on: the rule's, the group key's, its name and severity."""
    return {**dict(rule.labels), **dict(key), "rule": rule.name, "severity": severity or rule.severity}


@dataclass(frozen=True)
class GroupState:
    pending_since: float | None = None  # when unsent changes first appeared in a group with nothing notified
    last_sent_at: float | None = None
    sent_firing: frozenset[str] = frozenset()  # fingerprints announced as firing and not yet as resolved


@dataclass(frozen=True)
class Message:
    kind: str  # firing | repeat | resolved
    firing: tuple[str, ...]  # fingerprints
    resolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    group: GroupState
    message: Message | None


def plan(rule: Rule, group: GroupState, alerts: Mapping[str, AlertState], silenced: frozenset[str], now: float) -> Plan:
    """What to send now (if anything) for the rule's alerts, keyed by fingerprint."""
    firing = {fp for fp, a in alerts.items() if a.status is Status.FIRING and fp not in silenced}
    unacked = {fp for fp in firing if alerts[fp].acknowledged_by is None}
    resolved = {fp for fp in group.sent_firing if fp not in alerts or alerts[fp].status is not Status.FIRING}
    # A firing alert silenced after it was announced leaves the group quietly (it is not resolved), so
    # it is announced again if it still fires when the silence ends.
    kept = group.sent_firing & firing
    new = unacked - group.sent_firing
    due: str | None = None
    pending_since = group.pending_since
    if new or resolved:
        if not group.sent_firing:
            pending_since = pending_since if pending_since is not None else now
            if now >= pending_since + rule.group_wait_s:
                due = "firing"
        elif group.last_sent_at is None or now >= group.last_sent_at + rule.group_interval_s:
            due = "firing" if new else ("repeat" if unacked else "resolved")
    elif unacked and rule.renotify_s > 0 and group.last_sent_at is not None:
        if now >= group.last_sent_at + rule.renotify_s:
            due = "repeat"
    if due is None:
        return Plan(GroupState(pending_since, group.last_sent_at, frozenset(kept | resolved)), None)
    message = Message(due, tuple(sorted(unacked)), tuple(sorted(resolved)))
    sent = frozenset(kept | unacked)
    return Plan(GroupState(None, now, sent), message)
