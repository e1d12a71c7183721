"""Writing events to ClickHouse and PostgreSQL.

A sink turns events into what its database ingests fastest, and writes them:
- ClickHouse gets the records' JSON bytes untouched and parses them itself
  (warehouse/queries/inserts.py): a whole partition's records in one insert.
  Python never builds a row, which is what makes 100,000 events/s reachable
  on two cores (docs/benchmarks.md).
- PostgreSQL gets typed rows (pipeline/rows.py) through COPY.

Both are idempotent, which is what makes at-least-once transport
effectively-once in the tables:
- ClickHouse tables are ReplacingMergeTree keyed on event_id (re-delivered rows
  collapse; the query layer reads with FINAL), and each insert carries a
  deduplication token naming the Kafka offsets it covers, so a re-delivered
  range cut the same way as the first time is dropped at insert time. The
  rollups are recomputed from the collapsed rows (warehouse/rollup_refresh.py), so
  they stay exact too (docs/architecture.md).
- PostgreSQL inserts use ON CONFLICT (event_id, timestamp) DO NOTHING.
Errors are sorted into :class:`SinkUnavailable` (pause and retry) and
:class:`SinkRejected` (the data is bad: isolate the refused events).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
import psycopg
from psycopg import sql

from lookout.records import json_rows
from lookout.settings import Settings
from pipeline.rows import RowBuilder
from warehouse import clickhouse, postgres
from warehouse.queries.inserts import (
    JSON_INPUT_SETTINGS,
    file_source,
    input_source,
    insert_wire_events,
    retention_expression,
)
from warehouse.tables import Table

log = logging.getLogger(__name__)


class SinkUnavailable(RuntimeError):
    """The database is down or failed transiently; retry the same events later."""


class SinkRejected(ValueError):
    """The database refused these events; retrying them unchanged will fail again."""


class Sink(Protocol):
    """What a consumer writes through. A payload is whatever :meth:`write` takes for one event or record."""

    def record_payload(self, value: bytes) -> Any | None:
        """A whole record as one payload, or None when its events must be prepared one by one."""

    def event_payload(self, table: Table, event: Any) -> Any:
        """One decoded event as a payload; raises pipeline.rows.PoisonEvent if it can never be written."""

    def write(self, table: Table, payloads: Sequence[Any], dedup_token: str) -> None: ...

    def close(self) -> None: ...


class ClickHouseSink:
    """Inserts wire-form JSON; ClickHouse parses, checks and converts it (warehouse/queries/inserts.py)."""

    def __init__(self, dsn: str, retention_days: int, retention_overrides: Mapping[str, int]) -> None:
        self._dsn = dsn
        # The embedded engine reads the body from a file on our disk; a server reads it from the request.
        self._embedded = dsn.startswith("chdb:")
        self._retention = retention_expression(retention_days, retention_overrides)
        self._client = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ClickHouseSink:
        return cls(settings.clickhouse_dsn, settings.retention_days, settings.retention_overrides)

    def record_payload(self, value: bytes) -> bytes | None:
        try:
            return json_rows(value)
        except ValueError:
            return None

    def event_payload(self, table: Table, event: Any) -> bytes:
        return orjson.dumps(event)  # ClickHouse judges it, as it judges whole records

    def write(self, table: Table, payloads: Sequence[bytes], dedup_token: str) -> None:
        body = b"\n".join(payloads)
        if not body.strip():
            return
        settings: dict[str, object] = dict(JSON_INPUT_SETTINGS)
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
            # A dropped repeat then marks no rollup minutes either (it changed nothing).
            settings["deduplicate_blocks_in_dependent_materialized_views"] = 1
        try:
            if self._client is None:
                self._client = clickhouse.connect(self._dsn)
            if self._embedded:
                with tempfile.NamedTemporaryFile(prefix="lookout-", suffix=".jsonl") as spool:
                    spool.write(body)
                    spool.flush()
                    statement = insert_wire_events(table, file_source(spool.name, table), self._retention)
                    self._client.command(statement, settings=settings)
            else:
                statement = insert_wire_events(table, input_source(table), self._retention)
                self._client.command(f"{statement} FORMAT JSONEachRow", data=body, settings=settings)
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


class PostgresSink:
    """COPY into a per-session staging table, then one INSERT ... ON CONFLICT DO NOTHING."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._builders: dict[str, RowBuilder] = {}

    def record_payload(self, value: bytes) -> None:
        return None  # rows are built event by event

    def event_payload(self, table: Table, event: Any) -> tuple[Any, ...]:
        builder = self._builders.get(table.name)
        if builder is None:
            builder = self._builders[table.name] = RowBuilder(table)
        return builder.build(event)

    def write(self, table: Table, rows: Sequence[tuple[Any, ...]], dedup_token: str) -> None:
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
