"""Platform accounts (dashboard users) in PostgreSQL."""

from __future__ import annotations

import psycopg


def create(conn: psycopg.Connection, *, email: str, password_hash: str, role: str) -> int:
    row = conn.execute(
        "INSERT INTO accounts (email, password_hash, role) VALUES (%s, %s, %s) RETURNING id",
        (email, password_hash, role),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) AS n FROM accounts").fetchone()
    return int(row["n"]) if row else 0
