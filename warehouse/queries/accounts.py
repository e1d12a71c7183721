"""Platform accounts (dashboard users) in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: str
    disabled_at: datetime | None
    failed_login_attempts: int
    locked_until: datetime | None
    last_login_at: datetime | None
    password_changed_at: datetime
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @classmethod
    def from_row(cls, row: dict) -> Account:
        return cls(**{name: row[name] for name in _FIELDS})


_FIELDS = (
    "id",
    "email",
    "role",
    "disabled_at",
    "failed_login_attempts",
    "locked_until",
    "last_login_at",
    "password_changed_at",
    "created_at",
)
_COLUMNS = ", ".join(_FIELDS)


def create(conn: psycopg.Connection, *, email: str, password_hash: str, role: str) -> Account:
    row = conn.execute(
        f"INSERT INTO accounts (email, password_hash, role) VALUES (%s, %s, %s) RETURNING {_COLUMNS}",
        (email, password_hash, role),
    ).fetchone()
    assert row is not None
    return Account.from_row(row)


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) AS n FROM accounts").fetchone()
    return int(row["n"]) if row else 0


def get(conn: psycopg.Connection, account_id: int, *, for_update: bool = False) -> Account | None:
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE id = %s{lock}", (account_id,)).fetchone()
    return Account.from_row(row) if row else None


def find_by_email(conn: psycopg.Connection, email: str, *, for_update: bool = False) -> tuple[Account, str] | None:
    """The account with this email (case-insensitive) and its password hash."""
    lock = " FOR UPDATE" if for_update else ""
    row = conn.execute(
        f"SELECT {_COLUMNS}, password_hash FROM accounts WHERE lower(email) = lower(%s){lock}", (email,)
    ).fetchone()
    return (Account.from_row(row), row["password_hash"]) if row else None


def list_all(conn: psycopg.Connection) -> list[Account]:
    return [Account.from_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY id").fetchall()]


def active_admins(conn: psycopg.Connection) -> list[int]:
    """Ids of enabled admins, locked so two concurrent demotions cannot both see another admin left."""
    rows = conn.execute(
        "SELECT id FROM accounts WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR UPDATE"
    ).fetchall()
    return [r["id"] for r in rows]


def set_role(conn: psycopg.Connection, account_id: int, role: str) -> Account:
    return _update(conn, "role = %s", (role,), account_id)


def set_disabled(conn: psycopg.Connection, account_id: int, disabled: bool) -> Account:
    return _update(conn, "disabled_at = CASE WHEN %s THEN now() END", (disabled,), account_id)


def set_password_hash(conn: psycopg.Connection, account_id: int, password_hash: str) -> Account:
    return _update(conn, "password_hash = %s, password_changed_at = now()", (password_hash,), account_id)


def record_failure(conn: psycopg.Connection, account_id: int, failures: int, locked_until: datetime | None) -> None:
    conn.execute(
        "UPDATE accounts SET failed_login_attempts = %s, locked_until = %s WHERE id = %s",
        (failures, locked_until, account_id),
    )


def record_login(conn: psycopg.Connection, account_id: int) -> None:
    conn.execute(
        "UPDATE accounts SET failed_login_attempts = 0, locked_until = NULL, last_login_at = now() WHERE id = %s",
        (account_id,),
    )


def _update(conn: psycopg.Connection, assignments: str, params: tuple, account_id: int) -> Account:
    row = conn.execute(
        f"UPDATE accounts SET {assignments}, updated_at = now() WHERE id = %s RETURNING {_COLUMNS}",
        (*params, account_id),
    ).fetchone()
    assert row is not None  # callers lock the row with get(for_update=True) first
    return Account.from_row(row)
