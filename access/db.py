"""Where access gets its PostgreSQL transactions: one small pool per database per process.

The dashboards look an account up on every request, so a new connection per
request (a PostgreSQL backend fork each) would dominate their latency.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from lookout.settings import Settings
from warehouse import postgres
from warehouse.postgres import PostgresUnavailable

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def _pool(dsn: str) -> ConnectionPool:
    with _lock:
        pool = _pools.get(dsn)
        if pool is None:
            pool = postgres.pool(dsn, max_size=8, name="access")
            _pools[dsn] = pool
        return pool


@contextmanager
def transaction(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection in a transaction: committed when the block ends, rolled back when it raises."""
    try:
        with _pool(settings.postgres_dsn).connection() as conn:
            yield conn
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise PostgresUnavailable(f"PostgreSQL is unavailable: {exc}".strip()) from exc


@atexit.register
def _close_pools() -> None:
    with _lock:
        for pool in _pools.values():
            pool.close(timeout=1.0)
        _pools.clear()
