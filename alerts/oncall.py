"""What the on-call person does: acknowledge an incident, silence alerts, end a silence. Each change is
audited in its own transaction (:func:`access.audit.audited`).

Acknowledging stops re-notification (the next evaluation reads it) and tells
PagerDuty channels, which keep their own incident state; other channels stay
quiet until the incident resolves.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import psycopg

from access.audit import Actor, Change, audited
from access.errors import AccessError, NotFound
from alerts.engine import AlertView, Notice
from alerts.messages import build_payload
from alerts.rules import parse_rule
from lookout.settings import Settings
from warehouse.queries import alert_store

MAX_SILENCE_S = 30 * 86400


class OnCallError(AccessError):
    """The request cannot be carried out in the current state; the message says why."""

    status = 409


def acknowledge(settings: Settings, incident_id: int, actor: Actor, now: float | None = None) -> None:
    at = time.time() if now is None else now

    def mutate(conn: psycopg.Connection) -> Change[None]:
        incident = alert_store.acknowledge(conn, incident_id, actor.name, datetime.fromtimestamp(at, UTC))
        if incident is None:
            if alert_store.incident(conn, incident_id) is None:
                raise NotFound(f"no incident {incident_id}")
            raise OnCallError(
                f"incident {incident_id} is not firing unacknowledged (resolved, pending or acknowledged)"
            )
        stored = alert_store.rule_by_id(conn, incident["rule_id"])
        rule = parse_rule(stored["definition"], f"stored rule {stored['name']}", 0)
        pagers = [c for c in alert_store.channels_named(conn, rule.channels) if c["type"] == "pagerduty"]
        if pagers:
            since = incident["firing_at"].timestamp() if incident["firing_at"] else None
            view = AlertView(incident["fingerprint"], incident["group_key"], "firing", incident["last_value"],
                             incident["severity"], since)  # fmt: skip
            payload = build_payload(rule, Notice("acknowledge", (view,), ()), at, settings.public_url)
            for channel in pagers:
                alert_store.queue_notification(
                    conn, incident["rule_id"], channel["id"], [incident_id], "acknowledge", payload
                )
        return Change(None, str(incident_id), old={"acknowledged_by": None}, new={"acknowledged_by": actor.name},
                      metadata={"rule": stored["name"], "group_key": incident["group_key"]})  # fmt: skip

    audited(settings, actor, "alert_incident.acknowledge", "alert_incident", mutate, resource_id=str(incident_id))


def silence(
    settings: Settings,
    matchers: Mapping[str, str],
    duration_s: float,
    actor: Actor,
    comment: str = "",
    now: float | None = None,
) -> int:
    """Silence alerts whose labels (``rule``, ``severity``, the rule's labels, the group key) match, from now on."""
    if not matchers or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in matchers.items()):
        raise AccessError("a silence needs at least one matcher, label=value (e.g. rule=api-error-rate-high)")
    if not 0 < duration_s <= MAX_SILENCE_S:
        raise AccessError(f"a silence lasts more than 0 s and at most {MAX_SILENCE_S // 86400} days")
    start = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    end = start + timedelta(seconds=duration_s)

    def mutate(conn: psycopg.Connection) -> Change[int]:
        silence_id = alert_store.create_silence(conn, dict(matchers), start, end, actor.name, comment)
        described = {"matchers": dict(matchers), "starts_at": start.isoformat(), "ends_at": end.isoformat(),
                     "comment": comment}  # fmt: skip
        return Change(silence_id, str(silence_id), new=described)

    return audited(settings, actor, "alert_silence.create", "alert_silence", mutate)


def expire(settings: Settings, silence_id: int, actor: Actor, now: float | None = None) -> None:
    """End a silence now (alerts it held are announced again at their rule's next evaluation)."""
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)

    def mutate(conn: psycopg.Connection) -> Change[None]:
        old = alert_store.expire_silence(conn, silence_id, at)
        if old is None:
            raise NotFound(f"no running silence {silence_id}")
        return Change(None, str(silence_id), old={"ends_at": old["ends_at"].isoformat()},
                      new={"ends_at": at.isoformat()})  # fmt: skip

    audited(settings, actor, "alert_silence.expire", "alert_silence", mutate, resource_id=str(silence_id))
