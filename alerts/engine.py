"""One evaluation of one rule: query result in, new state, timeline and notice out. Pure.

The I/O around it (alerts/evaluation.py) loads the rule's stored state, runs
the query, calls :func:`evaluate` and writes everything it returns in one
transaction, so what was decided and what is stored cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from alerts.grouping import GroupState, Message, Silence, alert_labels, fingerprint, group_key_text, plan
from alerts.rules import Rule
from alerts.state import AlertState, Observation, Status, Transition, acknowledge, step


@dataclass(frozen=True)
class Sample:
    key: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class QueryResult:
    samples: tuple[Sample, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Runtime:
    """Everything a rule remembers between evaluations (stored as JSON in alert_rule_state)."""

    alerts: Mapping[str, AlertState] = field(default_factory=dict)
    keys: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # fingerprint -> group key
    group: GroupState = GroupState()
    silenced: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            "alerts": {fp: {**asdict(a), "changes": list(a.changes)} for fp, a in self.alerts.items()},
            "keys": {fp: dict(k) for fp, k in self.keys.items()},
            "group": {
                "pending_since": self.group.pending_since,
                "last_sent_at": self.group.last_sent_at,
                "sent_firing": sorted(self.group.sent_firing),
            },
            "silenced": sorted(self.silenced),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Runtime:
        if not raw:
            return cls()
        alerts = {
            fp: AlertState(**{**a, "status": Status(a["status"]), "changes": tuple(a.get("changes", ()))})
            for fp, a in raw.get("alerts", {}).items()
        }
        group = raw.get("group", {})
        return cls(
            alerts=alerts,
            keys={fp: dict(k) for fp, k in raw.get("keys", {}).items()},
            group=GroupState(
                group.get("pending_since"), group.get("last_sent_at"), frozenset(group.get("sent_firing", ()))
            ),
            silenced=frozenset(raw.get("silenced", ())),
        )


@dataclass(frozen=True)
class TimelineEntry:
    fingerprint: str
    group_key: Mapping[str, str]
    kind: str  # a Transition kind, or acknowledged | silenced | unsilenced
    at: float
    value: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class AlertView:
    """One alert as a notification shows it."""

    fingerprint: str
    group_key: Mapping[str, str]
    status: str
    value: float | None
    severity: str
    since: float | None

    @property
    def group_key_text(self) -> str:
        return group_key_text(self.group_key)


@dataclass(frozen=True)
class Notice:
    kind: str  # firing | repeat | resolved
    firing: tuple[AlertView, ...]
    resolved: tuple[AlertView, ...]


@dataclass(frozen=True)
class Evaluation:
    runtime: Runtime
    timeline: tuple[TimelineEntry, ...]
    notice: Notice | None


@dataclass(frozen=True)
class Ack:
    by: str
    at: float


def _observations(
    rule: Rule, runtime: Runtime, result: QueryResult
) -> dict[str, tuple[Mapping[str, str], Observation]]:
    obs: dict[str, tuple[Mapping[str, str], Observation]] = {}
    if result.error is not None:
        keys = dict(runtime.keys) or ({fingerprint(rule.name, {}): {}} if not rule.group_by else {})
        return {fp: (key, Observation(error=result.error)) for fp, key in keys.items()}
    for sample in result.samples:
        key = {k: str(sample.key.get(k, "")) for k in rule.group_by}
        obs[fingerprint(rule.name, key)] = (key, Observation(value=sample.value))
    for fp, key in runtime.keys.items():
        obs.setdefault(fp, (key, Observation()))  # a known series that returned nothing: no data
    if not rule.group_by and not obs:
        obs[fingerprint(rule.name, {})] = ({}, Observation())
    return obs


def evaluate(
    rule: Rule,
    runtime: Runtime,
    result: QueryResult,
    now: float,
    silences: tuple[Silence, ...] = (),
    acks: Mapping[str, Ack] | None = None,
) -> Evaluation:
    timeline: list[TimelineEntry] = []
    alerts: dict[str, AlertState] = dict(runtime.alerts)
    keys: dict[str, Mapping[str, str]] = dict(runtime.keys)

    def record(fp: str, event: Transition) -> None:
        timeline.append(TimelineEntry(fp, keys[fp], event.kind, event.at, event.value, event.detail))

    for fp, (key, observation) in _observations(rule, runtime, result).items():
        keys[fp] = key
        state, events = step(rule, alerts.get(fp, AlertState()), observation, now)
        alerts[fp] = state
        for event in events:
            record(fp, event)
    for fp, ack in (acks or {}).items():
        state = alerts.get(fp)
        if state is not None and state.is_firing and state.acknowledged_by is None:
            alerts[fp] = acknowledge(state, ack.by, ack.at)
            record(fp, Transition("acknowledged", now, state.value, ack.by))

    silenced = frozenset(
        fp
        for fp, state in alerts.items()
        if state.status in (Status.PENDING, Status.FIRING)
        and any(s.matches(alert_labels(rule, keys[fp], state.severity), now) for s in silences)
    )
    for fp in sorted(silenced - runtime.silenced):
        record(fp, Transition("silenced", now, alerts[fp].value))
    for fp in sorted(runtime.silenced - silenced):
        if fp in alerts and alerts[fp].status in (Status.PENDING, Status.FIRING):
            record(fp, Transition("unsilenced", now, alerts[fp].value))

    decided = plan(rule, runtime.group, alerts, silenced, now)
    notice = None
    if decided.message is not None:
        notice = _notice(decided.message, alerts, keys)

    # Forget alerts that are over: not firing, nothing left to announce, no flapping history to keep.
    for fp in list(alerts):
        state = alerts[fp]
        if state.status in (Status.INACTIVE, Status.RESOLVED) and fp not in decided.group.sent_firing:
            if not state.changes:
                del alerts[fp], keys[fp]
            elif state.status is Status.RESOLVED:
                alerts[fp] = replace(state, status=Status.INACTIVE)
    return Evaluation(Runtime(alerts, keys, decided.group, silenced), tuple(timeline), notice)


def _notice(message: Message, alerts: Mapping[str, AlertState], keys: Mapping[str, Mapping[str, str]]) -> Notice:
    def view(fp: str) -> AlertView:
        a = alerts.get(fp, AlertState(status=Status.RESOLVED))
        status = Status.FIRING if a.status is Status.FIRING else Status.RESOLVED
        return AlertView(fp, keys.get(fp, {}), status.value, a.value, a.severity, a.active_since or a.since)

    return Notice(message.kind, tuple(view(fp) for fp in message.firing), tuple(view(fp) for fp in message.resolved))
