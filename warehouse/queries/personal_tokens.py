"""Personal API tokens in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class PersonalToken:
    id: int
    account_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> PersonalToken:
        return cls(**{name: row[name] for name in _FIELDS})


_FIELDS = ("id", "account_id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
_COLUMNS = ", ".join(_FIELDS)


def insert(
    conn: psycopg.Connection,
    *,
    account_id: int,
    name: str,
    token_hash: str,
    prefix: str,
    expires_at: datetime | None,
) -> PersonalToken:
    row = conn.execute(
        f"INSERT INTO personal_tokens (account_id, name, token_hash, prefix, expires_at) "
        f"VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (account_id, name, token_hash, prefix, expires_at),
    ).fetchone()
    assert row is not None
    return PersonalToken.from_row(row)


def list_for(conn: psycopg.Connection, account_id: int) -> list[PersonalToken]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM personal_tokens WHERE account_id = %s ORDER BY revoked_at IS NOT NULL, id DESC",
        (account_id,),
    ).fetchall()
    return [PersonalToken.from_row(r) for r in rows]


def revoke(conn: psycopg.Connection, account_id: int, token_id: int) -> PersonalToken | None:
    row = conn.execute(
        f"UPDATE personal_tokens SET revoked_at = now() "
        f"WHERE id = %s AND account_id = %s AND revoked_at IS NULL RETURNING {_COLUMNS}",
        (token_id, account_id),
    ).fetchone()
    return PersonalToken.from_row(row) if row else None


def find_usable(conn: psycopg.Connection, token_hash: str) -> PersonalToken | None:
    """The token with this hash if it is neither revoked, expired, nor its account disabled."""
    row = conn.execute(
        f"SELECT {', '.join('t.' + f for f in _FIELDS)} FROM personal_tokens t JOIN accounts a ON a.id = t.account_id "
        "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) "
        "AND a.disabled_at IS NULL",
        (token_hash,),
    ).fetchone()
    return PersonalToken.from_row(row) if row else None


def touch(conn: psycopg.Connection, token_id: int) -> None:
    """Record use, at most once a minute per token so a busy script does not write on every call."""
    conn.execute(
        "UPDATE personal_tokens SET last_used_at = now() "
        "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < now() - INTERVAL '1 minute')",
        (token_id,),
    )
