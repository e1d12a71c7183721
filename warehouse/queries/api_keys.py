"""API keys in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_limit_per_s: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    default_kind: str = "log"

    @classmethod
    def from_row(cls, row: dict) -> ApiKey:
        return cls(
            id=row["id"],
            name=row["name"],
            prefix=row["prefix"],
            scopes=tuple(row["scopes"]),
            rate_limit_per_s=row["rate_limit_per_s"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
            last_used_at=row["last_used_at"],
            default_kind=row["default_kind"],
        )


_COLUMNS = "id, name, prefix, scopes, rate_limit_per_s, created_at, revoked_at, last_used_at, default_kind"


def insert(
    conn: psycopg.Connection,
    *,
    name: str,
    key_hash: str,
    prefix: str,
    scopes: list[str],
    rate_limit_per_s: int | None,
    created_by: int | None = None,
    default_kind: str = "log",
) -> ApiKey:
    row = conn.execute(
        f"INSERT INTO api_keys (name, key_hash, prefix, scopes, rate_limit_per_s, created_by, default_kind) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (name, key_hash, prefix, scopes, rate_limit_per_s, created_by, default_kind),
    ).fetchone()
    assert row is not None
    return ApiKey.from_row(row)


def find_active_by_hash(conn: psycopg.Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL", (key_hash,)
    ).fetchone()
    return ApiKey.from_row(row) if row else None


def touch(conn: psycopg.Connection, key_id: int) -> None:
    """Record use, at most once a minute per key: it runs on API-key cache misses, not on every request."""
    conn.execute(
        "UPDATE api_keys SET last_used_at = now() "
        "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < now() - INTERVAL '1 minute')",
        (key_id,),
    )


def list_all(conn: psycopg.Connection, *, include_revoked: bool = False) -> list[ApiKey]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE %s OR revoked_at IS NULL ORDER BY id", (include_revoked,)
    ).fetchall()
    return [ApiKey.from_row(row) for row in rows]


def revoke(conn: psycopg.Connection, key_id: int) -> tuple[ApiKey, str] | None:
    """Revoke an active key; returns it with its hash (to evict caches), or None when not active."""
    row = conn.execute(
        f"UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL RETURNING {_COLUMNS}, key_hash",
        (key_id,),
    ).fetchone()
    return (ApiKey.from_row(row), row["key_hash"]) if row else None
