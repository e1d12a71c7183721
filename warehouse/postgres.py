"""The one door to PostgreSQL (psycopg 3)."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool


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


def pool(dsn: str, *, max_size: int, name: str) -> ConnectionPool:
    """An open pool of connections whose rows are dicts, for code that runs a query per request or per tick
    (a new PostgreSQL backend each time would cost more than the query). Each connection is checked as it
    is handed out, so a PostgreSQL restart costs one reconnect instead of errors from dead connections."""
    return ConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "connect_timeout": 5},
        timeout=5.0,
        name=name,
        open=True,
        check=ConnectionPool.check_connection,
    )
