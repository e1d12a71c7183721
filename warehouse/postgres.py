"""The one door to PostgreSQL (psycopg 3)."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be reached or failed transiently: retry later."""


def connect(dsn: str, *, autocommit: bool = False, connect_timeout: float = 5.0) -> psycopg.Connection:
    """A new connection whose rows are dicts."""
    try:
        return psycopg.connect(
            dsn, autocommit=autocommit, row_factory=dict_row, connect_timeout=max(1, int(connect_timeout))
        )
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(f"cannot connect to PostgreSQL: {exc}".strip()) from exc
