"""Security events for the security page: filtered lists, counts, an address's history and the investigation
workflow's updates. Building each statement is pure (``build_*``); values always travel as parameters.

An event is *open* until an operator marks it investigated (``investigated``) or a false positive (both
``investigated`` and ``false_positive``); the seed's columns (migration 0002) hold the outcome, 0016 adds when.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg

SEVERITIES = ("low", "medium", "high", "critical")
STATES = ("open", "investigated", "false_positive")
Outcome = Literal["investigated", "false_positive"]
MAX_LIMIT = 500
COLUMNS = (
    "event_id, timestamp, service, instance, event_type, severity, user_id, host(ip_address) AS ip_address, "
    "user_agent, endpoint, threat_indicators, automatic_action_taken, investigated, investigated_by, "
    "investigation_notes, false_positive, investigated_at, metadata"
)
_STATE_SQL = {
    "open": "NOT investigated",
    "investigated": "investigated AND NOT false_positive",
    "false_positive": "false_positive",
}


@dataclass(frozen=True)
class SecurityFilter:
    """Which events: a time range [start, end) and optional severity, type, address, account and state."""

    start: datetime
    end: datetime
    severities: tuple[str, ...] = ()
    event_type: str | None = None
    ip: str | None = None
    account: str | None = None
    state: str | None = None  # one of STATES; None: any

    def __post_init__(self) -> None:
        unknown = [s for s in self.severities if s not in SEVERITIES]
        if unknown:
            raise ValueError(f"severity: {unknown[0]!r} is not one of {', '.join(SEVERITIES)}")
        if self.state is not None and self.state not in STATES:
            raise ValueError(f"state: must be one of {', '.join(STATES)}")


@dataclass(frozen=True)
class Where:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def build_where(wanted: SecurityFilter) -> Where:
    """The filter as one parameterized condition (named ``%(name)s`` placeholders)."""
    parts = ["timestamp >= %(start)s", "timestamp < %(end)s"]
    params: dict[str, Any] = {"start": wanted.start, "end": wanted.end}
    if wanted.severities:
        parts.append("severity = ANY(%(severities)s)")
        params["severities"] = list(wanted.severities)
    if wanted.event_type:
        parts.append("event_type = %(event_type)s")
        params["event_type"] = wanted.event_type
    if wanted.ip:
        parts.append("ip_address = %(ip)s::inet")
        params["ip"] = wanted.ip
    if wanted.account:
        parts.append("user_id = %(account)s")
        params["account"] = wanted.account
    if wanted.state:
        parts.append(_STATE_SQL[wanted.state])
    return Where(" AND ".join(parts), params)


def build_search(wanted: SecurityFilter, limit: int) -> tuple[str, dict[str, Any]]:
    where = build_where(wanted)
    sql = (
        f"SELECT {COLUMNS} FROM security_events WHERE {where.sql} "
        "ORDER BY timestamp DESC, event_id DESC LIMIT %(limit)s"
    )
    return sql, {**where.params, "limit": max(1, min(limit, MAX_LIMIT))}


def search(conn: psycopg.Connection, wanted: SecurityFilter, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first."""
    sql, params = build_search(wanted, limit)
    return conn.execute(sql, params).fetchall()


def count(conn: psycopg.Connection, wanted: SecurityFilter) -> int:
    where = build_where(wanted)
    return conn.execute(f"SELECT count(*) AS n FROM security_events WHERE {where.sql}", where.params).fetchone()["n"]


def build_over_time(wanted: SecurityFilter, step_s: int) -> tuple[str, dict[str, Any]]:
    where = build_where(wanted)
    sql = (
        "SELECT date_bin(make_interval(secs => %(step)s), timestamp, TIMESTAMPTZ '1970-01-01 00:00:00+00') "
        f"AS bucket, severity, count(*) AS events FROM security_events WHERE {where.sql} "
        "GROUP BY bucket, severity ORDER BY bucket, severity"
    )
    return sql, {**where.params, "step": step_s}


def over_time(conn: psycopg.Connection, wanted: SecurityFilter, step_s: int) -> list[dict[str, Any]]:
    """Events per bucket of ``step_s`` seconds and severity."""
    sql, params = build_over_time(wanted, step_s)
    return conn.execute(sql, params).fetchall()


def by_type(conn: psycopg.Connection, wanted: SecurityFilter, limit: int = 50) -> list[dict[str, Any]]:
    """Per event type and severity: events, open ones, distinct addresses, the latest."""
    where = build_where(wanted)
    return conn.execute(
        "SELECT event_type, severity, count(*) AS events, count(*) FILTER (WHERE NOT investigated) AS open, "
        "count(DISTINCT ip_address) AS addresses, max(timestamp) AS latest "
        f"FROM security_events WHERE {where.sql} GROUP BY event_type, severity "
        "ORDER BY array_position(%(order)s, severity) DESC, events DESC LIMIT %(limit)s",
        {**where.params, "order": list(SEVERITIES), "limit": limit},
    ).fetchall()


def open_critical(conn: psycopg.Connection) -> int:
    """Uninvestigated critical events, of any age (the navigation badge; migration 0016's partial index)."""
    row = conn.execute(
        "SELECT count(*) AS n FROM security_events WHERE NOT investigated AND severity = 'critical'"
    ).fetchone()
    return row["n"]


def by_id(conn: psycopg.Connection, event_id: uuid.UUID) -> dict[str, Any] | None:
    return conn.execute(f"SELECT {COLUMNS} FROM security_events WHERE event_id = %s", (event_id,)).fetchone()


def _outcome_values(outcome: Outcome) -> dict[str, Any]:
    return {"false_positive": outcome == "false_positive"}


def mark(
    conn: psycopg.Connection, event_id: uuid.UUID, outcome: Outcome, notes: str, by: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Mark one event; (before, after) or None when there is no such event. Locks the row for the caller's
    transaction, so the audit row written beside it records exactly what this change replaced."""
    before = conn.execute(
        f"SELECT {COLUMNS} FROM security_events WHERE event_id = %s FOR UPDATE", (event_id,)
    ).fetchone()
    if before is None:
        return None
    after = conn.execute(
        "UPDATE security_events SET investigated = true, false_positive = %(false_positive)s, "
        "investigation_notes = %(notes)s, investigated_by = %(by)s, investigated_at = now() "
        f"WHERE event_id = %(event_id)s RETURNING {COLUMNS}",
        {**_outcome_values(outcome), "notes": notes, "by": by, "event_id": event_id},
    ).fetchone()
    return before, after


def mark_matching(
    conn: psycopg.Connection, wanted: SecurityFilter, outcome: Outcome, notes: str, by: str
) -> list[uuid.UUID]:
    """Mark every *open* event the filter matches (already-investigated ones keep their outcome); their ids."""
    where = build_where(wanted)
    rows = conn.execute(
        "UPDATE security_events SET investigated = true, false_positive = %(false_positive)s, "
        "investigation_notes = %(notes)s, investigated_by = %(by)s, investigated_at = now() "
        f"WHERE {where.sql} AND NOT investigated RETURNING event_id",
        {**where.params, **_outcome_values(outcome), "notes": notes, "by": by},
    ).fetchall()
    return [row["event_id"] for row in rows]
