"""The explorer's saved views and each account's last-used state, in PostgreSQL (migrations 0014-0015).

A view's ``state`` is the explorer URL's query string (q, from, to, columns, pinned), kept as text so a
view opens exactly as it was saved; the dashboards check it before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class SavedView:
    id: int
    account_id: int
    owner: str  # the owner's email
    name: str
    state: str
    shared: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> SavedView:
        return cls(**{name: row[name] for name in _FIELDS})


_FIELDS = ("id", "account_id", "owner", "name", "state", "shared", "created_at", "updated_at")
_SELECT = (
    "SELECT v.id, v.account_id, a.email AS owner, v.name, v.state, v.shared, v.created_at, v.updated_at "
    "FROM saved_views v JOIN accounts a ON a.id = v.account_id"
)


def visible_to(conn: psycopg.Connection, account_id: int) -> list[SavedView]:
    """The account's own views, then the ones others share, each group by name."""
    rows = conn.execute(
        f"{_SELECT} WHERE v.account_id = %(me)s OR v.shared ORDER BY v.account_id <> %(me)s, lower(v.name), v.id",
        {"me": account_id},
    ).fetchall()
    return [SavedView.from_row(r) for r in rows]


def get(conn: psycopg.Connection, view_id: int) -> SavedView | None:
    row = conn.execute(f"{_SELECT} WHERE v.id = %s", (view_id,)).fetchone()
    return SavedView.from_row(row) if row else None


def insert(conn: psycopg.Connection, account_id: int, name: str, state: str, shared: bool) -> SavedView:
    """Raises psycopg.errors.UniqueViolation when the account already has a view of that name."""
    row = conn.execute(
        "INSERT INTO saved_views (account_id, name, state, shared) VALUES (%s, %s, %s, %s) RETURNING id",
        (account_id, name, state, shared),
    ).fetchone()
    assert row is not None
    found = get(conn, row["id"])
    assert found is not None
    return found


def update(
    conn: psycopg.Connection, view_id: int, account_id: int, name: str, state: str, shared: bool
) -> SavedView | None:
    """Only the owner's own view changes; None when the account owns no view with that id."""
    row = conn.execute(
        "UPDATE saved_views SET name = %s, state = %s, shared = %s, updated_at = now() "
        "WHERE id = %s AND account_id = %s RETURNING id",
        (name, state, shared, view_id, account_id),
    ).fetchone()
    return get(conn, row["id"]) if row else None


def delete(conn: psycopg.Connection, view_id: int, account_id: int) -> bool:
    row = conn.execute(
        "DELETE FROM saved_views WHERE id = %s AND account_id = %s RETURNING id", (view_id, account_id)
    ).fetchone()
    return row is not None


def remember(conn: psycopg.Connection, account_id: int, state: str) -> None:
    conn.execute(
        "INSERT INTO explorer_last_state (account_id, state) VALUES (%s, %s) "
        "ON CONFLICT (account_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
        (account_id, state),
    )


def last_state(conn: psycopg.Connection, account_id: int) -> str | None:
    row = conn.execute("SELECT state FROM explorer_last_state WHERE account_id = %s", (account_id,)).fetchone()
    return row["state"] if row else None
