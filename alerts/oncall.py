"""What the on-call person does: acknowledge an incident, silence alerts. Each change is audited with it.

Acknowledging stops re-notification (the next evaluation reads it) and tells
PagerDuty channels, which keep their own incident state; other channels stay
quiet until the incident resolves.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from alerts.engine import AlertView, Notice
from alerts.messages import build_payload
from alerts.rules import parse_rule
from lookout.settings import Settings
from warehouse import postgres
from warehouse.queries import alert_store

MAX_SILENCE_S = 30 * 86400


class OnCallError(ValueError):
    """The request cannot be carried out; the message says why."""


def acknowledge(settings: Settings, incident_id: int, actor: str, now: float | None = None) -> None:
    at = time.time() if now is None else now
    with postgres.connect(settings.postgres_dsn) as conn:
        incident = alert_store.acknowledge(conn, incident_id, actor, datetime.fromtimestamp(at, UTC))
        if incident is None:
            raise OnCallError(f"incident {incident_id} is not firing unacknowledged (or does not exist)")
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
        conn.commit()


def silence(
    settings: Settings,
    matchers: Mapping[str, str],
    duration_s: float,
    author: str,
    comment: str = "",
    now: float | None = None,
) -> int:
    """Silence alerts whose labels (``rule``, ``severity``, the rule's labels, the group key) match, from now on."""
    if not matchers or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in matchers.items()):
        raise OnCallError("a silence needs at least one matcher, label=value (e.g. rule=api-error-rate-high)")
    if not 0 < duration_s <= MAX_SILENCE_S:
        raise OnCallError(f"a silence lasts more than 0 s and at most {MAX_SILENCE_S // 86400} days")
    if not author:
        raise OnCallError("a silence needs an author")
    start = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    with postgres.connect(settings.postgres_dsn) as conn:
        silence_id = alert_store.create_silence(
            conn, dict(matchers), start, start + timedelta(seconds=duration_s), author, comment
        )
        conn.commit()
    return silence_id
