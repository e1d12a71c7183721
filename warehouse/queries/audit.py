"""Lookout's own admin changes, written straight into the audit trail (admin_audit_logs).

These rows are not shipped through Kafka: they are written in the same
transaction as the change they record, so a change without its audit row
cannot exist.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

AUDIT_SERVICE = "lookout"


def record(
    conn: psycopg.Connection,
    *,
    action: str,
    resource_type: str,
    resource_id: str,
    actor: str,
    old_values: dict[str, Any] | None = None,
    new_values: dict[str, Any] | None = None,
    ip_address: str | None = None,
    user_agent: str = "",
    justification: str = "",
) -> None:
    conn.execute(
        "INSERT INTO admin_audit_logs (event_id, timestamp, service, admin_id, action, resource_type, resource_id, "
        "old_values, new_values, ip_address, user_agent, justification) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            uuid.uuid4(),
            datetime.now(UTC),
            AUDIT_SERVICE,
            actor,
            action,
            resource_type,
            resource_id,
            Jsonb(old_values) if old_values is not None else None,
            Jsonb(new_values) if new_values is not None else None,
            ip_address,
            user_agent,
            justification,
        ),
    )
