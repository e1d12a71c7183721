"""Lookout's own audit trail: rows of admin_audit_logs that the platform writes itself (platform = true).

These rows are not shipped through Kafka: they are written in the same
transaction as the change they record (migration 0007 refuses a change to an
account, API key or token whose transaction wrote no such row).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

AUDIT_SERVICE = "lookout"
OUTCOMES = ("success", "failure", "denied")
MAX_LIMIT = 500


@dataclass(frozen=True)
class AuditEntry:
    """One row to write: what was done to which resource, by whom, from where."""

    action: str
    resource_type: str
    resource_id: str
    actor: str
    actor_account_id: int | None = None
    old_values: dict[str, Any] | None = None
    new_values: dict[str, Any] | None = None
    ip_address: str | None = None
    user_agent: str = ""
    session_id: str = ""
    token_id: str = ""
    request_id: str = ""
    outcome: str = "success"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100


@dataclass(frozen=True)
class AuditRow:
    event_id: str
    timestamp: datetime
    actor: str
    actor_account_id: int | None
    action: str
    resource_type: str
    resource_id: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    ip_address: str | None
    user_agent: str
    session_id: str
    token_id: str
    request_id: str
    outcome: str
    metadata: dict[str, Any]


def record(conn: psycopg.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO admin_audit_logs (event_id, timestamp, service, platform, admin_id, actor_account_id, action, "
        "resource_type, resource_id, old_values, new_values, ip_address, user_agent, session_id, token_id, "
        "request_id, outcome, metadata) "
        "VALUES (%s, %s, %s, true, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            datetime.now(UTC),
            AUDIT_SERVICE,
            entry.actor,
            entry.actor_account_id,
            entry.action,
            entry.resource_type,
            entry.resource_id,
            Jsonb(entry.old_values) if entry.old_values is not None else None,
            Jsonb(entry.new_values) if entry.new_values is not None else None,
            entry.ip_address,
            entry.user_agent,
            entry.session_id,
            entry.token_id,
            entry.request_id,
            entry.outcome,
            Jsonb(entry.metadata),
        ),
    )


def search(conn: psycopg.Connection, query: AuditQuery) -> list[AuditRow]:
    """The platform's audit rows matching every given filter, newest first."""
    conditions = ["platform"]
    params: list[Any] = []
    for column, value in (
        ("admin_id", query.actor),
        ("action", query.action),
        ("resource_type", query.resource_type),
        ("resource_id", query.resource_id),
        ("outcome", query.outcome),
    ):
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)
    if query.start is not None:
        conditions.append("timestamp >= %s")
        params.append(query.start)
    if query.end is not None:
        conditions.append("timestamp < %s")
        params.append(query.end)
    rows = conn.execute(
        "SELECT event_id::text AS event_id, timestamp, admin_id AS actor, actor_account_id, action, resource_type, "
        "resource_id, old_values, new_values, host(ip_address) AS ip_address, user_agent, session_id, token_id, "
        "request_id, outcome, metadata FROM admin_audit_logs WHERE "
        + " AND ".join(conditions)
        + " ORDER BY timestamp DESC LIMIT %s",
        (*params, min(query.limit, MAX_LIMIT)),
    ).fetchall()
    return [AuditRow(**row) for row in rows]
