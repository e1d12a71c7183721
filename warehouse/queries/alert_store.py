"""Alerting's PostgreSQL tables (migration 0010): rules, channels, rule state, incidents, silences, the outbox.

Functions take a connection and leave the transaction to the caller, so one
evaluation (state, timeline, queued notifications) or one admin change (the
change and its audit row) commits as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from warehouse.queries import audit

# ---------------------------------------------------------------- rules and channels


def _audit(conn: psycopg.Connection, action: str, resource_id: str, actor: str, **values: Any) -> None:
    """The audit row of an alerting change, in the change's transaction; the resource type is the
    action's prefix (``alert_rule.update`` -> ``alert_rule``)."""
    resource_type = action.partition(".")[0]
    audit.record(conn, audit.AuditEntry(action, resource_type, resource_id, actor, **values))


def list_rules(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, name, definition, enabled, builtin, version, updated_at, updated_by FROM alert_rules ORDER BY name"
    ).fetchall()


def save_rule(
    conn: psycopg.Connection, name: str, definition: Mapping[str, Any], enabled: bool, interval_s: int, actor: str
) -> str:
    """Create or replace a rule by name, audited; returns created | updated | unchanged."""
    old = conn.execute("SELECT id, definition FROM alert_rules WHERE name = %s FOR UPDATE", (name,)).fetchone()
    if old is None:
        row = conn.execute(
            "INSERT INTO alert_rules (name, definition, enabled, interval_s, updated_by) VALUES (%s, %s, %s, %s, %s) "
            "RETURNING id",
            (name, Jsonb(dict(definition)), enabled, interval_s, actor),
        ).fetchone()
        _audit(conn, "alert_rule.create", str(row["id"]), actor, new_values=dict(definition))
        return "created"
    if old["definition"] == dict(definition):
        return "unchanged"
    conn.execute(
        "UPDATE alert_rules SET definition = %s, enabled = %s, interval_s = %s, version = version + 1, "
        "updated_at = now(), updated_by = %s WHERE id = %s",
        (Jsonb(dict(definition)), enabled, interval_s, actor, old["id"]),
    )
    _audit(conn, "alert_rule.update", str(old["id"]), actor, old_values=old["definition"], new_values=dict(definition))
    return "updated"


def list_channels(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Channels with their secret (callers that show or export them must leave it out)."""
    return conn.execute("SELECT id, name, type, config, secret FROM alert_channels ORDER BY name").fetchall()


def save_channel(
    conn: psycopg.Connection, name: str, type_: str, config: Mapping[str, Any], secret: str | None, actor: str
) -> str:
    """Create or replace a channel by name, audited (never with its secret); ``secret=None`` keeps the stored one."""
    old = conn.execute(
        "SELECT id, type, config, secret FROM alert_channels WHERE name = %s FOR UPDATE", (name,)
    ).fetchone()
    described = {"type": type_, **dict(config)}
    if old is None:
        row = conn.execute(
            "INSERT INTO alert_channels (name, type, config, secret) VALUES (%s, %s, %s, %s) RETURNING id",
            (name, type_, Jsonb(dict(config)), secret),
        ).fetchone()
        _audit(conn, "alert_channel.create", str(row["id"]), actor, new_values=described)
        return "created"
    secret_changes = secret is not None and secret != old["secret"]
    if old["type"] == type_ and old["config"] == dict(config) and not secret_changes:
        return "unchanged"
    conn.execute(
        "UPDATE alert_channels SET type = %s, config = %s, secret = COALESCE(%s, secret), updated_at = now() "
        "WHERE id = %s",
        (type_, Jsonb(dict(config)), secret, old["id"]),
    )
    _audit(
        conn,
        "alert_channel.update",
        str(old["id"]),
        actor,
        old_values={"type": old["type"], **old["config"]},
        new_values={**described, **({"secret": "changed"} if secret_changes else {})},
    )
    return "updated"


# ---------------------------------------------------------------- evaluation


def due_rules(conn: psycopg.Connection, now: datetime) -> list[dict[str, Any]]:
    """Enabled rules never evaluated or whose interval has passed since their last evaluation."""
    return conn.execute(
        "SELECT r.id, r.name, r.definition, r.interval_s FROM alert_rules r "
        "LEFT JOIN alert_rule_state s ON s.rule_id = r.id "
        "WHERE r.enabled AND (s.last_evaluated_at IS NULL "
        "OR s.last_evaluated_at + make_interval(secs => r.interval_s) <= %s) ORDER BY r.id",
        (now,),
    ).fetchall()


def rule_by_id(conn: psycopg.Connection, rule_id: int) -> dict[str, Any] | None:
    return conn.execute(
        "SELECT id, name, definition, enabled, interval_s FROM alert_rules WHERE id = %s", (rule_id,)
    ).fetchone()


def lock_state(conn: psycopg.Connection, rule_id: int) -> dict[str, Any]:
    """The rule's state row, locked until the transaction ends (created empty on first use)."""
    conn.execute("INSERT INTO alert_rule_state (rule_id) VALUES (%s) ON CONFLICT (rule_id) DO NOTHING", (rule_id,))
    return conn.execute(
        "SELECT fencing_token, runtime, memo, last_evaluated_at FROM alert_rule_state WHERE rule_id = %s FOR UPDATE",
        (rule_id,),
    ).fetchone()


def write_state(
    conn: psycopg.Connection,
    rule_id: int,
    token: int,
    runtime: Mapping[str, Any],
    memo: Mapping[str, Any],
    evaluated_at: datetime,
    error: str,
    evaluated_by: str,
) -> None:
    conn.execute(
        "UPDATE alert_rule_state SET fencing_token = %s, runtime = %s, memo = %s, last_evaluated_at = %s, "
        "last_error = %s, evaluated_by = %s WHERE rule_id = %s",
        (token, Jsonb(dict(runtime)), Jsonb(dict(memo)), evaluated_at, error, evaluated_by, rule_id),
    )


def active_silences(conn: psycopg.Connection, now: datetime) -> list[dict[str, Any]]:
    """Silences not over yet (including future ones: the state machine checks their start)."""
    return conn.execute(
        "SELECT id, matchers, starts_at, ends_at, author, comment FROM alert_silences WHERE ends_at > %s ORDER BY id",
        (now,),
    ).fetchall()


def open_acknowledgements(conn: psycopg.Connection, rule_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT fingerprint, acknowledged_by, acknowledged_at FROM alert_incidents "
        "WHERE rule_id = %s AND resolved_at IS NULL AND acknowledged_by IS NOT NULL",
        (rule_id,),
    ).fetchall()


# How each timeline kind moves the incident it belongs to.
_OPENS = {"pending": "pending", "firing": "firing"}
_CLOSES = {"resolved", "cleared"}


def record_timeline(
    conn: psycopg.Connection,
    rule_id: int,
    fingerprint: str,
    group_key: Mapping[str, str],
    kind: str,
    at: datetime,
    value: float | None,
    detail: str,
    severity: str,
) -> int | None:
    """Add one timeline entry to the fingerprint's open incident (opening one on pending/firing); its id."""
    row = conn.execute(
        "SELECT id FROM alert_incidents WHERE fingerprint = %s AND resolved_at IS NULL", (fingerprint,)
    ).fetchone()
    if row is None:
        if kind not in _OPENS:
            return None
        row = conn.execute(
            "INSERT INTO alert_incidents (rule_id, fingerprint, group_key, status, severity, started_at, last_value) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (rule_id, fingerprint, Jsonb(dict(group_key)), _OPENS[kind], severity, at, value),
        ).fetchone()
    incident = row["id"]
    if kind == "firing":
        conn.execute(
            "UPDATE alert_incidents SET status = 'firing', firing_at = %s, severity = %s, last_value = %s "
            "WHERE id = %s",
            (at, severity, value, incident),
        )
    elif kind in _CLOSES:
        conn.execute(
            "UPDATE alert_incidents SET status = 'resolved', resolved_at = %s, last_value = COALESCE(%s, last_value) "
            "WHERE id = %s",
            (at, value, incident),
        )
    elif value is not None:
        conn.execute("UPDATE alert_incidents SET last_value = %s WHERE id = %s", (value, incident))
    conn.execute(
        "INSERT INTO alert_incident_events (incident_id, at, kind, value, detail) VALUES (%s, %s, %s, %s, %s)",
        (incident, at, kind, value, detail),
    )
    return incident


def open_incident_ids(conn: psycopg.Connection, fingerprints: Iterable[str]) -> dict[str, int]:
    """The latest incident of each fingerprint (a resolved one included: its resolution is being announced)."""
    rows = conn.execute(
        "SELECT DISTINCT ON (fingerprint) fingerprint, id FROM alert_incidents WHERE fingerprint = ANY(%s) "
        "ORDER BY fingerprint, started_at DESC, id DESC",
        (list(fingerprints),),
    ).fetchall()
    return {r["fingerprint"]: r["id"] for r in rows}


def channels_named(conn: psycopg.Connection, names: Sequence[str]) -> list[dict[str, Any]]:
    return conn.execute("SELECT id, name, type FROM alert_channels WHERE name = ANY(%s)", (list(names),)).fetchall()


def queue_notification(
    conn: psycopg.Connection,
    rule_id: int,
    channel_id: int,
    incident_ids: Sequence[int],
    kind: str,
    payload: Mapping[str, Any],
) -> int:
    return conn.execute(
        "INSERT INTO alert_notifications (rule_id, channel_id, incident_ids, kind, payload) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (rule_id, channel_id, list(incident_ids), kind, Jsonb(dict(payload))),
    ).fetchone()["id"]


# ---------------------------------------------------------------- on-call actions


def acknowledge(conn: psycopg.Connection, incident_id: int, actor: str, at: datetime) -> dict[str, Any] | None:
    """Acknowledge an open firing incident, audited; the incident, or None if there is no such incident."""
    row = conn.execute(
        "UPDATE alert_incidents SET acknowledged_by = %s, acknowledged_at = %s "
        "WHERE id = %s AND status = 'firing' AND resolved_at IS NULL AND acknowledged_by IS NULL "
        "RETURNING id, rule_id, fingerprint, group_key, severity, last_value, firing_at",
        (actor, at, incident_id),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "INSERT INTO alert_incident_events (incident_id, at, kind, actor) VALUES (%s, %s, 'acknowledge', %s)",
        (incident_id, at, actor),
    )
    _audit(conn, "alert_incident.acknowledge", str(incident_id), actor)
    return row


def create_silence(
    conn: psycopg.Connection,
    matchers: Mapping[str, str],
    starts_at: datetime,
    ends_at: datetime,
    author: str,
    comment: str,
) -> int:
    silence_id = conn.execute(
        "INSERT INTO alert_silences (matchers, starts_at, ends_at, author, comment) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id",
        (Jsonb(dict(matchers)), starts_at, ends_at, author, comment),
    ).fetchone()["id"]
    _audit(
        conn,
        "alert_silence.create",
        str(silence_id),
        author,
        new_values={
            "matchers": dict(matchers),
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "comment": comment,
        },
    )
    return silence_id


# ---------------------------------------------------------------- delivery


def claim_due_notifications(
    conn: psycopg.Connection,
    now: datetime,
    limit: int,
    claim_s: float,
    busy_channels: Sequence[int],
    per_channel: int,
) -> list[dict[str, Any]]:
    """Queued notifications due now, at most ``per_channel`` per channel and none for ``busy_channels``,
    claimed for ``claim_s`` so no other scheduler sends them meanwhile."""
    return conn.execute(
        "WITH due AS (SELECT id, channel_id, next_attempt_at FROM alert_notifications "
        "  WHERE status = 'queued' AND next_attempt_at <= %(now)s "
        "  AND (claimed_until IS NULL OR claimed_until <= %(now)s) AND channel_id <> ALL(%(busy)s) "
        "  ORDER BY next_attempt_at LIMIT %(scan)s FOR UPDATE SKIP LOCKED), "
        "picked AS (SELECT id FROM (SELECT id, next_attempt_at, "
        "  row_number() OVER (PARTITION BY channel_id ORDER BY next_attempt_at) AS rank FROM due) ranked "
        "  WHERE rank <= %(per_channel)s ORDER BY next_attempt_at LIMIT %(limit)s) "
        "UPDATE alert_notifications n SET claimed_until = %(until)s, attempts = n.attempts + 1 "
        "FROM alert_channels c WHERE c.id = n.channel_id AND n.id IN (SELECT id FROM picked) "
        "RETURNING n.id, n.kind, n.payload, n.attempts, n.incident_ids, n.channel_id, c.name AS channel, c.type, "
        "c.config, c.secret",
        {
            "now": now,
            "until": now + timedelta(seconds=claim_s),
            "busy": list(busy_channels),
            "scan": limit * 10,
            "per_channel": per_channel,
            "limit": limit,
        },
    ).fetchall()


def record_attempt(
    conn: psycopg.Connection,
    notification_id: int,
    attempt: int,
    *,
    ok: bool,
    status_code: int | None,
    error: str,
    duration_ms: float,
    at: datetime,
    retry_at: datetime | None,
    channel: str,
    incident_ids: Sequence[int],
) -> None:
    """One delivery attempt, on the notification (sent, retried at ``retry_at``, or failed) and each incident."""
    conn.execute(
        "INSERT INTO alert_notification_attempts (notification_id, attempt, at, ok, status_code, error, duration_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (notification_id, attempt, at, ok, status_code, error, duration_ms),
    )
    status = "sent" if ok else ("queued" if retry_at is not None else "failed")
    conn.execute(
        "UPDATE alert_notifications SET status = %s, next_attempt_at = COALESCE(%s, next_attempt_at), "
        "claimed_until = NULL, sent_at = CASE WHEN %s THEN %s END WHERE id = %s",
        (status, retry_at, ok, at, notification_id),
    )
    detail = f"{channel}: " + ("delivered" if ok else f"attempt {attempt} failed: {error}")
    for incident in incident_ids:
        conn.execute(
            "INSERT INTO alert_incident_events (incident_id, at, kind, detail) VALUES (%s, %s, %s, %s)",
            (incident, at, "notified" if ok else "notification_failed", detail),
        )
