"""Retention for the PostgreSQL tables: monthly partitions created ahead, expired ones dropped.

ClickHouse needs no job: its TTLs (from each row's retention_days) drop whole
parts by themselves.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from psycopg import sql

from lookout.settings import Settings
from warehouse import postgres

log = logging.getLogger(__name__)

PARTITIONED_TABLES = ("admin_audit_logs", "security_events")
MONTHS_AHEAD = 3


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def expired_partitions(names: list[str], table: str, today: date, retention_days: int) -> list[str]:
    """Partitions of ``table`` whose whole month ended more than ``retention_days`` ago. Pure."""
    expired = []
    for name in names:
        suffix = name.removeprefix(f"{table}_")
        try:
            year, month = (int(part) for part in suffix.split("_"))
            month_end = _add_months(date(year, month, 1), 1)
        except ValueError:
            continue  # the DEFAULT partition and anything not named by month
        if (today - month_end).days > retention_days:
            expired.append(name)
    return expired


def run(settings: Settings, today: date | None = None) -> list[str]:
    """Create partitions ahead and drop expired ones; returns the dropped partitions."""
    today = today or datetime.now(UTC).date()
    dropped: list[str] = []
    with postgres.connect(settings.postgres_dsn) as conn:
        for table in PARTITIONED_TABLES:
            conn.execute(
                "SELECT lookout_ensure_monthly_partitions(%s, %s, %s)",
                (table, _month_start(today), MONTHS_AHEAD + 1),
            )
            rows = conn.execute(
                "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = %s::regclass",
                (table,),
            ).fetchall()
            for name in expired_partitions([r["name"] for r in rows], table, today, settings.retention_days):
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped.append(name)
    if dropped:
        log.info("dropped expired partitions", extra={"partitions": dropped})
    return dropped
