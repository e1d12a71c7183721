"""PostgreSQL retention: partitions are created ahead and expired months are dropped."""

from __future__ import annotations

from datetime import date

import pytest

from warehouse import postgres, retention

pytestmark = pytest.mark.integration


def _partitions(settings, table):
    with postgres.connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY 1",
            (table,),
        ).fetchall()
    return [r["name"] for r in rows]


def test_partitions_ahead_and_expired_ones_dropped(settings):
    today = date.today()
    two_years_ago = date(today.year - 2, today.month, 1)
    with postgres.connect(settings.postgres_dsn) as conn:
        conn.execute("SELECT lookout_ensure_monthly_partitions('security_events', %s, 1)", (two_years_ago,))
    old = f"security_events_{two_years_ago.year}_{two_years_ago.month:02d}"
    assert old in _partitions(settings, "security_events")

    # Two months on, the job creates the months ahead of that day and drops what outlived 300 days.
    two_months_on = date(today.year + (today.month + 1) // 12, (today.month + 1) % 12 + 1, 15)
    dropped = retention.run(settings.with_(retention_days=300), today=two_months_on)
    names = _partitions(settings, "security_events")
    assert old in dropped and old not in names
    five_ahead = retention._add_months(two_months_on.replace(day=1), 3)
    assert f"security_events_{five_ahead.year}_{five_ahead.month:02d}" in names
    assert f"security_events_{today.year}_{today.month:02d}" in names  # recent months are kept
    assert "security_events_default" in names


def test_expired_partitions_is_pure_and_ignores_the_default():
    names = ["t_2026_01", "t_2026_09", "t_2026_10", "t_default", "t_weird"]
    assert retention.expired_partitions(names, "t", date(2026, 11, 15), 30) == ["t_2026_01", "t_2026_09"]
