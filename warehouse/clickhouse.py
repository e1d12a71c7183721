"""The one door to ClickHouse.

Every component reaches ClickHouse through clickhouse-connect, so the same code
runs on the embedded engine (``chdb:///path``, single-node mode) and on a
ClickHouse server (``http://host:8123``, scaled mode). Driver exceptions are
translated here into :class:`ClickHouseUnavailable` (retry later) and
:class:`ClickHouseRejected` (the data or query is wrong) so callers decide once.
"""

from __future__ import annotations

import threading
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

# chDB allows one engine per process; clients on the same path share it, but a
# second path raises. Serialising client creation avoids two threads racing to
# open the engine during start-up.
_connect_lock = threading.Lock()


class ClickHouseUnavailable(RuntimeError):
    """ClickHouse could not be reached or failed transiently: retry later."""


class ClickHouseRejected(ValueError):
    """ClickHouse refused the statement or the data: retrying will not help."""


def connect(dsn: str, **settings: Any) -> Client:
    """A new client for ``dsn``; each thread should own its client."""
    try:
        with _connect_lock:
            return clickhouse_connect.get_client(dsn=dsn, settings=settings or None)
    except OperationalError as exc:
        raise ClickHouseUnavailable(f"cannot connect to ClickHouse at {dsn}: {exc}") from exc


def translate(exc: Exception) -> Exception:
    """Map a clickhouse-connect exception onto Lookout's two kinds of failure."""
    if isinstance(exc, OperationalError):
        return ClickHouseUnavailable(str(exc))
    if isinstance(exc, DatabaseError):
        return ClickHouseRejected(str(exc))
    return ClickHouseUnavailable(f"{type(exc).__name__}: {exc}")
