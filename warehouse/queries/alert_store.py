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

# ---------------------------------------------------------------- rules and channels
# Writers return what changed (old and new values) and leave the audit row to the caller
# (alerts/manage.py, alerts/ruleset.py), which writes it in the same transaction.

_RULE_COLUMNS = "id, name, definition, enabled, builtin, version, updated_at, updated_by"


def list_rules(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Live rules (not deleted), by name."""
    return conn.execute(f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE deleted_at IS NULL ORDER BY name").fetchall()


def rule_named(conn: psycopg.Connection, name: str, *, lock: bool = False) -> dict[str, Any] | None:
    return conn.execute(
        f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE name = %s AND deleted_at IS NULL"
        + (" FOR UPDATE" if lock else ""),
        (name,),
    ).fetchone()


def rules_overview(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Live rules with their last evaluation and their open incidents (how many pending, firing)."""
    return conn.execute(
        f"SELECT {', '.join('r.' + c for c in _RULE_COLUMNS.split(', '))}, s.last_evaluated_at, "
        "COALESCE(s.last_error, '') AS last_error, "
        "count(i.id) FILTER (WHERE i.status = 'firing') AS firing, "
        "count(i.id) FILTER (WHERE i.status = 'pending') AS pending "
        "FROM alert_rules r LEFT JOIN alert_rule_state s ON s.rule_id = r.id "
        "LEFT JOIN alert_incidents i ON i.rule_id = r.id AND i.resolved_at IS NULL "
        "WHERE r.deleted_at IS NULL GROUP BY r.id, s.rule_id ORDER BY r.name"
    ).fetchall()


def save_rule(
    conn: psycopg.Connection, name: str, definition: Mapping[str, Any], enabled: bool, interval_s: int, actor: str
) -> tuple[str, int, dict[str, Any] | None]:
    """Create or replace a live rule by name: (created | updated | unchanged, its id, the old definition)."""
    old = rule_named(conn, name, lock=True)
    if old is None:
        row = conn.execute(
            "INSERT INTO alert_rules (name, definition, enabled, interval_s, updated_by) VALUES (%s, %s, %s, %s, %s) "
            "RETURNING id",
            (name, Jsonb(dict(definition)), enabled, interval_s, actor),
        ).fetchone()
        return "created", row["id"], None
    if old["definition"] == dict(definition):
        return "unchanged", old["id"], old["definition"]
    conn.execute(
        "UPDATE alert_rules SET definition = %s, enabled = %s, interval_s = %s, version = version + 1, "
        "updated_at = now(), updated_by = %s WHERE id = %s",
        (Jsonb(dict(definition)), enabled, interval_s, actor, old["id"]),
    )
    return "updated", old["id"], old["definition"]


def mark_rule_deleted(conn: psycopg.Connection, rule_id: int, actor: str) -> None:
    conn.execute(
        "UPDATE alert_rules SET deleted_at = now(), enabled = false, updated_at = now(), updated_by = %s WHERE id = %s",
        (actor, rule_id),
    )


def list_channels(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Channels with their secret (callers that show or export them must leave it out)."""
    return conn.execute("SELECT id, name, type, config, secret FROM alert_channels ORDER BY name").fetchall()


def save_channel(
    conn: psycopg.Connection, name: str, type_: str, config: Mapping[str, Any], secret: str | None
) -> tuple[str, int, dict[str, Any] | None, dict[str, Any]]:
    """Create or replace a channel by name; ``secret=None`` keeps the stored one. Returns (created | updated |
    unchanged, its id, old values, new values); the values never hold the secret, only whether it changed."""
    old = conn.execute(
        "SELECT id, type, config, secret FROM alert_channels WHERE name = %s FOR UPDATE", (name,)
    ).fetchone()
    described = {"type": type_, **dict(config)}
    if old is None:
        row = conn.execute(
            "INSERT INTO alert_channels (name, type, config, secret) VALUES (%s, %s, %s, %s) RETURNING id",
            (name, type_, Jsonb(dict(config)), secret),
        ).fetchone()
        return "created", row["id"], None, described
    before = {"type": old["type"], **old["config"]}
    secret_changes = secret is not None and secret != old["secret"]
    if old["type"] == type_ and old["config"] == dict(config) and not secret_changes:
        return "unchanged", old["id"], before, described
    conn.execute(
        "UPDATE alert_channels SET type = %s, config = %s, secret = COALESCE(%s, secret), updated_at = now() "
        "WHERE id = %s",
        (type_, Jsonb(dict(config)), secret, old["id"]),
    )
    return "updated", old["id"], before, {**described, **({"credential": "changed"} if secret_changes else {})}


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
    """Acknowledge an open firing incident (the caller audits it); the incident, or None if it is not one."""
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
    return row


def create_silence(
    conn: psycopg.Connection,
    matchers: Mapping[str, str],
    starts_at: datetime,
    ends_at: datetime,
    author: str,
    comment: str,
) -> int:
    return conn.execute(
        "INSERT INTO alert_silences (matchers, starts_at, ends_at, author, comment) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING id",
        (Jsonb(dict(matchers)), starts_at, ends_at, author, comment),
    ).fetchone()["id"]


def list_silences(conn: psycopg.Connection, now: datetime, include_expired: bool, limit: int = 200) -> list[dict]:
    """Active and future silences (and, if asked, the most recently ended ones), ending soonest first."""
    return conn.execute(
        "SELECT id, matchers, starts_at, ends_at, author, comment, created_at, ends_at > %(now)s AS active "
        "FROM alert_silences WHERE %(all)s OR ends_at > %(now)s ORDER BY (ends_at > %(now)s) DESC, "
        "CASE WHEN ends_at > %(now)s THEN ends_at END ASC, ends_at DESC LIMIT %(limit)s",
        {"now": now, "all": include_expired, "limit": limit},
    ).fetchall()


def expire_silence(conn: psycopg.Connection, silence_id: int, now: datetime) -> dict[str, Any] | None:
    """End a silence now; the silence as it was, or None when there is no such silence still running."""
    old = conn.execute(
        "SELECT id, matchers, starts_at, ends_at, author, comment FROM alert_silences "
        "WHERE id = %s AND ends_at > %s FOR UPDATE",
        (silence_id, now),
    ).fetchone()
    if old is None:
        return None
    # ends_at must stay after starts_at (a check of 0010): a silence that has not started ends as it starts.
    conn.execute(
        "UPDATE alert_silences SET ends_at = GREATEST(%s, starts_at + interval '1 millisecond') WHERE id = %s",
        (now, silence_id),
    )
    return old


# ---------------------------------------------------------------- incidents, for the pages

_INCIDENT = (
    "SELECT i.id, i.rule_id, r.name AS rule, r.deleted_at IS NOT NULL AS rule_deleted, i.fingerprint, i.group_key, "
    "i.status, i.severity, i.started_at, i.firing_at, i.resolved_at, i.last_value, i.acknowledged_by, "
    "i.acknowledged_at FROM alert_incidents i JOIN alert_rules r ON r.id = i.rule_id"
)


def list_incidents(conn: psycopg.Connection, open_only: bool, limit: int) -> list[dict[str, Any]]:
    """Firing first, then pending, then resolved; newest first within each."""
    return conn.execute(
        f"{_INCIDENT} WHERE NOT %(open)s OR i.resolved_at IS NULL "
        "ORDER BY CASE i.status WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, "
        "COALESCE(i.resolved_at, i.firing_at, i.started_at) DESC, i.id DESC LIMIT %(limit)s",
        {"open": open_only, "limit": limit},
    ).fetchall()


def incident(conn: psycopg.Connection, incident_id: int) -> dict[str, Any] | None:
    return conn.execute(f"{_INCIDENT} WHERE i.id = %s", (incident_id,)).fetchone()


def incident_events(conn: psycopg.Connection, incident_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT at, kind, value, detail, actor FROM alert_incident_events WHERE incident_id = %s ORDER BY at, id",
        (incident_id,),
    ).fetchall()


def open_incidents_of(conn: psycopg.Connection, rule_id: int) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT id, fingerprint, group_key, status, severity, last_value, firing_at FROM alert_incidents "
        "WHERE rule_id = %s AND resolved_at IS NULL ORDER BY id FOR UPDATE",
        (rule_id,),
    ).fetchall()


def count_firing(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) AS n FROM alert_incidents WHERE resolved_at IS NULL AND status = 'firing' "
        "AND acknowledged_by IS NULL"
    ).fetchone()["n"]


def reset_state(conn: psycopg.Connection, rule_id: int) -> None:
    """Forget what the rule remembered (its alerts, what was announced): it starts afresh when enabled again."""
    lock_state(conn, rule_id)
    conn.execute("UPDATE alert_rule_state SET runtime = '{}', memo = '{}' WHERE rule_id = %s", (rule_id,))


def rule_is_live(conn: psycopg.Connection, rule_id: int) -> bool:
    """Enabled and not deleted (read after the state row is locked: a rule disabled meanwhile writes nothing)."""
    row = conn.execute(
        "SELECT enabled AND deleted_at IS NULL AS live FROM alert_rules WHERE id = %s", (rule_id,)
    ).fetchone()
    return bool(row and row["live"])


def channel_named(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    return conn.execute("SELECT id, name, type, config, secret FROM alert_channels WHERE name = %s", (name,)).fetchone()


def notifications_of(conn: psycopg.Connection, incident_id: int) -> list[dict[str, Any]]:
    """The notifications that carried an incident, with their channel and state."""
    return conn.execute(
        "SELECT n.id, n.kind, n.status, n.attempts, n.created_at, n.sent_at, c.name AS channel "
        "FROM alert_notifications n JOIN alert_channels c ON c.id = n.channel_id "
        "WHERE %s = ANY(n.incident_ids) ORDER BY n.created_at, n.id",
        (incident_id,),
    ).fetchall()


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
