"""The state machine of one alert (a rule and one group key). Pure: time is an argument.

inactive -> pending (condition true, waiting `for`) -> firing -> resolved, as
Prometheus' alerting rule, plus:
- `keep_firing_for`: a firing alert stays firing that long after the
  condition was last true, so a value hovering at the threshold does not
  resolve and re-fire;
- flapping damping: when an alert has started and ended `flap_max_changes`
  times within `flap_window`, it is held firing (one incident, no more
  notifications) until the condition has stayed clear for a whole window;
- no data and query errors each mean ok, alerting or "keep the last state",
  as the rule says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from alerts.rules import Rule


class Status(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Observation:
    """What the query said for one group key: a value, no data (None), or an error."""

    value: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class AlertState:
    status: Status = Status.INACTIVE
    since: float | None = None  # when the current status began
    active_since: float | None = None  # when the condition first held (pending or firing)
    last_breach_at: float | None = None
    condition: bool = False  # the condition at the last evaluation ("keep last state" reuses it)
    value: float | None = None
    severity: str = ""
    changes: tuple[float, ...] = ()  # starts and ends of firing within the flap window
    flapping: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    no_data: bool = False  # the last evaluation had no data
    error: str | None = None  # the last evaluation's query error

    @property
    def is_firing(self) -> bool:
        return self.status is Status.FIRING


@dataclass(frozen=True)
class Transition:
    """Something the incident timeline records."""

    kind: str  # pending | firing | resolved | cleared | flapping | no_data | error
    at: float
    value: float | None = None
    detail: str = ""


def _condition(rule: Rule, state: AlertState, obs: Observation) -> bool:
    if obs.error is not None:
        policy = rule.on_error
    elif obs.value is None:
        policy = rule.no_data
    else:
        return rule.breaches(obs.value)
    if policy == "alerting":
        return True
    if policy == "ok":
        return False
    return state.condition


def step(rule: Rule, state: AlertState, obs: Observation, now: float) -> tuple[AlertState, list[Transition]]:
    """The alert's state after one evaluation at ``now`` and what happened in it."""
    events: list[Transition] = []
    no_data = obs.error is None and obs.value is None
    # Recorded when they begin (or the error changes), not at every evaluation they last.
    if obs.error is not None and obs.error != state.error:
        events.append(Transition("error", now, None, obs.error))
    elif no_data and not state.no_data and state.status in (Status.PENDING, Status.FIRING):
        events.append(Transition("no_data", now, None, f"no data: treated as {rule.no_data}"))
    cond = _condition(rule, state, obs)
    value = obs.value if obs.value is not None else state.value
    severity = rule.severity_for(value) if cond and value is not None else (state.severity or rule.severity)
    changes = tuple(t for t in state.changes if t > now - rule.flap_window_s)
    base = replace(state, condition=cond, value=value, changes=changes, no_data=no_data, error=obs.error)
    if cond:
        base = replace(base, last_breach_at=now, severity=severity)

    if state.status in (Status.INACTIVE, Status.RESOLVED):
        if not cond:
            return replace(base, status=Status.INACTIVE, since=state.since), events
        if rule.for_s == 0:
            return _fire(base, now, value, events), events
        events.append(Transition("pending", now, value))
        return replace(base, status=Status.PENDING, since=now, active_since=now), events

    if state.status is Status.PENDING:
        if not cond:
            events.append(Transition("cleared", now, value, "condition cleared before `for` elapsed"))
            return replace(base, status=Status.INACTIVE, since=now, active_since=None), events
        if now - (state.active_since or now) >= rule.for_s:
            return _fire(base, now, value, events), events
        return base, events

    # firing
    if cond:
        return base, events
    clear_since = state.last_breach_at if state.last_breach_at is not None else now
    if now - clear_since < rule.keep_firing_for_s:
        return base, events
    if state.flapping:
        if now - clear_since < rule.flap_window_s:
            return base, events
    elif len(changes) + 1 >= rule.flap_max_changes and rule.flap_window_s > 0:
        events.append(Transition("flapping", now, value, f"{len(changes) + 1} changes within {rule.flap_window_s}s: "
                                 "held firing until clear for the whole window"))  # fmt: skip
        return replace(base, flapping=True), events
    events.append(Transition("resolved", now, value))
    resolved = replace(
        base,
        status=Status.RESOLVED,
        since=now,
        active_since=None,
        changes=() if state.flapping else (*changes, now),
        flapping=False,
        acknowledged_by=None,
        acknowledged_at=None,
    )
    return resolved, events


def _fire(base: AlertState, now: float, value: float | None, events: list[Transition]) -> AlertState:
    events.append(Transition("firing", now, value))
    return replace(
        base,
        status=Status.FIRING,
        since=now,
        active_since=base.active_since or now,
        changes=(*base.changes, now),
    )


def acknowledge(state: AlertState, who: str, now: float) -> AlertState:
    """Acknowledged: no re-notification until it resolves (its resolution is still announced)."""
    if state.status is not Status.FIRING:
        raise ValueError("only a firing alert can be acknowledged")
    return replace(state, acknowledged_by=who, acknowledged_at=now)
