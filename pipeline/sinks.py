"""Writing batches of rows to ClickHouse and PostgreSQL.

Both sinks are idempotent, which is what makes at-least-once transport
effectively-once in the tables:
- ClickHouse tables are ReplacingMergeTree keyed on event_id (re-delivered rows
  collapse; the query layer reads with FINAL), and each insert carries a
  deduplication token naming the Kafka offsets it covers, so a re-delivered
  range cut the same way as the first time is dropped at insert time and never
  reaches the rollup materialized views twice. A range cut differently is
  counted again by the rollups (docs/architecture.md).
- PostgreSQL inserts use ON CONFLICT (event_id, timestamp) DO NOTHING.
Errors are sorted into :class:`SinkUnavailable` (pause and retry) and
:class:`SinkRejected` (the data is bad: isolate the poison rows).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import psycopg
import pyarrow as pa
from psycopg import sql

from pipeline.rows import Row
from warehouse import clickhouse, postgres
from warehouse.tables import ColumnType, Table

log = logging.getLogger(__name__)


class SinkUnavailable(RuntimeError):
    """The database is down or failed transiently; retry the same rows later."""


class SinkRejected(ValueError):
    """The database refused these rows; retrying them unchanged will fail again."""


class Sink(Protocol):
    def write(self, table: Table, rows: Sequence[Row], dedup_token: str) -> None: ...

    def close(self) -> None: ...


class ClickHouseSink:
    """Inserts through Arrow: pyarrow builds the columns in C, where clickhouse-connect's Native
    encoder would walk every value in Python (10-15% of the pipeline's time, docs/benchmarks.md)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._client = None

    def write(self, table: Table, rows: Sequence[Row], dedup_token: str) -> None:
        if not rows:
            return
        try:
            if self._client is None:
                self._client = clickhouse.connect(self._dsn)
            arrow = to_arrow(table, list(zip(*rows, strict=True)))
            self._client.insert_arrow(table.name, arrow, settings=_dedup_settings(dedup_token))
        except clickhouse.ClickHouseUnavailable as exc:
            raise SinkUnavailable(str(exc)) from exc
        except Exception as exc:  # driver errors are sorted by clickhouse.translate
            translated = clickhouse.translate(exc)
            if isinstance(translated, clickhouse.ClickHouseRejected):
                raise SinkRejected(str(translated)) from exc
            self.close()
            raise SinkUnavailable(str(translated)) from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


_ARROW_TYPES = {
    ColumnType.TIMESTAMP: pa.timestamp("ms", tz="UTC"),
    ColumnType.NULLABLE_TIMESTAMP: pa.timestamp("ms", tz="UTC"),
    ColumnType.INT: pa.uint64(),
    ColumnType.NULLABLE_INT: pa.uint64(),
    ColumnType.FLOAT: pa.float64(),
    ColumnType.NULLABLE_FLOAT: pa.float64(),
    ColumnType.BOOL: pa.bool_(),
}


def to_arrow(table: Table, columns: Sequence[Sequence[object]]) -> pa.Table:
    """An Arrow table of transposed row values; ClickHouse casts each Arrow type to its column's type
    (UUIDs and JSON travel as strings, integers as UInt64, range-checked in pipeline/rows.py)."""
    arrays = [
        pa.array(values, type=_ARROW_TYPES.get(column.type, pa.string()))
        for column, values in zip(table.columns, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=table.column_names)


def _dedup_settings(token: str) -> dict[str, object] | None:
    """Insert settings that make a repeated insert of the same offsets a no-op, rollups included."""
    if not token:
        return None
    # Without the second setting the rollup views would still count a deduplicated block.
    return {"insert_deduplication_token": token, "deduplicate_blocks_in_dependent_materialized_views": 1}


class PostgresSink:
    """COPY into a per-session staging table, then one INSERT ... ON CONFLICT DO NOTHING."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection | None = None

    def write(self, table: Table, rows: Sequence[Row], dedup_token: str) -> None:
        if not rows:
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = postgres.connect(self._dsn, autocommit=True)
            conn = self._conn
            columns = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
            stage = sql.Identifier(f"stage_{table.name}")
            with conn.transaction():
                conn.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                    ).format(stage, sql.Identifier(table.name))
                )
                with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, columns)) as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (event_id, timestamp) DO NOTHING"
                    ).format(sql.Identifier(table.name), columns, columns, stage)
                )
        except postgres.PostgresUnavailable as exc:
            raise SinkUnavailable(str(exc)) from exc
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            raise SinkRejected(str(exc).strip()) from exc
        except psycopg.Error as exc:
            self.close()
            raise SinkUnavailable(str(exc).strip()) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
