"""The one door to ClickHouse.

Every component reaches ClickHouse through clickhouse-connect, so the same code
runs on the embedded engine (``chdb:///path``, single-node mode) and on a
ClickHouse server (``http://host:8123``, scaled mode). Driver exceptions are
translated here into :class:`ClickHouseUnavailable` (retry later) and
:class:`ClickHouseRejected` (the data or query is wrong; :class:`ClickHouseBadParameter` when it is a
query parameter's value, i.e. the caller's input) so callers decide once.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


class ClickHouseBadParameter(ClickHouseRejected):
    """A query parameter's value is unusable (a time outside the column's range): the caller's input is wrong."""


def connect(dsn: str, **settings: Any) -> Client:
    """A new client for ``dsn``; each thread should own its client."""
    try:
        with _connect_lock:
            return clickhouse_connect.get_client(dsn=dsn, settings=settings or None)
    except OperationalError as exc:
        raise ClickHouseUnavailable(f"cannot connect to ClickHouse at {dsn}: {exc}") from exc


# Error codes that mean "this data is wrong": parse failures, type and range errors, a failed
# throwIf check (warehouse/queries/inserts.py). Any other server error (too many parts, memory,
# a missing table before migrations ran, a bug in our SQL) is retried, never blamed on the rows:
# a sink stuck retrying shows on /metrics, while rows wrongly refused would be dead-lettered.
_DATA_ERRORS = frozenset({6, 26, 27, 32, 33, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 395, 441, 467})
_PARAMETER_ERRORS = frozenset({457})  # BAD_QUERY_PARAMETER
_CODE = re.compile(r"Code: (\d+)\.")
_MESSAGE = re.compile(r"DB::Exception: (.*?)(?:: while executing|: \(at row| \([A-Z_]+\)|$)", re.S)


def translate(exc: Exception) -> Exception:
    """Map a clickhouse-connect exception onto Lookout's two kinds of failure."""
    if isinstance(exc, OperationalError):
        return ClickHouseUnavailable(str(exc))
    if isinstance(exc, DatabaseError):
        found = _CODE.search(str(exc))
        code = int(found.group(1)) if found is not None else None
        if code in _PARAMETER_ERRORS:
            return ClickHouseBadParameter(reason(str(exc)))
        if code in _DATA_ERRORS:
            return ClickHouseRejected(reason(str(exc)))
        return ClickHouseUnavailable(str(exc))
    return ClickHouseUnavailable(f"{type(exc).__name__}: {exc}")


@contextmanager
def translated() -> Iterator[None]:
    """Run driver calls so that their errors come out as :func:`translate` maps them."""
    try:
        yield
    except (DatabaseError, OperationalError) as exc:
        raise translate(exc) from exc


def reason(message: str) -> str:
    """The human part of a server error ("timestamp: missing"), without code, stack or query context."""
    found = _MESSAGE.search(message)
    text = found.group(1).strip() if found else message.strip()
    return text.splitlines()[0][:500] if text else message[:500]
