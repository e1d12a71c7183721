"""Where each event kind is stored, and how each field becomes a column value.

This is the storage side of the event contract, derived from it: every field of
a kind (lookout.contract.SCHEMAS, plus the envelope) is a column of the kind's
table, with a column type that follows from the field's type, so a field added
to the contract is written by the pipeline, never skipped. What only storage
knows is declared here: which database and table hold a kind, and the columns
the contract has no field for (retention_days, ingested_at). The migrations
create the columns; tests/integration/test_columns.py compares the contract,
this map and the live columns of both databases.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lookout.contract import ENVELOPE, KINDS, FieldSpec, FieldType, schema_for


class Database(StrEnum):
    CLICKHOUSE = "clickhouse"
    POSTGRES = "postgres"


class ColumnType(StrEnum):
    UUID = "uuid"
    TIMESTAMP = "timestamp"  # epoch milliseconds on the wire
    NULLABLE_TIMESTAMP = "nullable_timestamp"
    STRING = "string"
    INT = "int"  # unsigned in ClickHouse; bounds in `UINT_MAX`
    NULLABLE_INT = "nullable_int"
    FLOAT = "float"
    NULLABLE_FLOAT = "nullable_float"
    BOOL = "bool"
    JSON = "json"  # object or null; String in ClickHouse, JSONB in PostgreSQL
    IP = "ip"  # "" means none


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    max_value: int | None = None  # for unsigned ClickHouse integers: beyond it the row is poison

    @property
    def wire_name(self) -> str:
        """The field's name in the compact wire form (lookout.contract.Event.to_json_dict)."""
        return _WIRE_NAMES.get(self.name, self.name)


_WIRE_NAMES = {"timestamp": "ts"}


@dataclass(frozen=True)
class Table:
    kind: str
    database: Database
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


# A ClickHouse integer column is the narrowest unsigned type holding every value the contract allows;
# its maximum is what the insert checks values against (warehouse/queries/inserts.py).
_UNSIGNED_MAXIMA = (2**8 - 1, 2**16 - 1, 2**32 - 1, 2**64 - 1)


def _integer_column_max(spec: FieldSpec) -> int:
    if spec.min_value is None or spec.min_value < 0 or spec.max_value is None:
        raise ValueError(f"{spec.name}: integer fields must be bounded and non-negative (ClickHouse stores unsigned)")
    for maximum in _UNSIGNED_MAXIMA:
        if spec.max_value <= maximum:
            return maximum
    raise ValueError(f"{spec.name}: {spec.max_value} does not fit in 64 bits")


def column_for(spec: FieldSpec, database: Database) -> Column:
    """The column that stores one field of the contract in ``database``."""
    # Optional numbers and secondary timestamps are nullable; required ones, and integers with a default
    # (processing_attempts), are not.
    nullable = spec.nullable
    match spec.type:
        case FieldType.UUID:
            return Column(spec.name, ColumnType.UUID)
        case FieldType.TIMESTAMP:
            return Column(spec.name, ColumnType.NULLABLE_TIMESTAMP if nullable else ColumnType.TIMESTAMP)
        case FieldType.STR | FieldType.ENUM:
            return Column(spec.name, ColumnType.STRING)
        case FieldType.INT:
            kind = ColumnType.NULLABLE_INT if nullable else ColumnType.INT
            return Column(spec.name, kind, _integer_column_max(spec))
        case FieldType.FLOAT:
            return Column(spec.name, ColumnType.NULLABLE_FLOAT if nullable else ColumnType.FLOAT)
        case FieldType.BOOL:
            return Column(spec.name, ColumnType.BOOL)
        case FieldType.JSON:
            return Column(spec.name, ColumnType.JSON)
        case FieldType.IP:
            # PostgreSQL has INET; in ClickHouse logs keep the address as text ("" when absent).
            return Column(spec.name, ColumnType.IP if database is Database.POSTGRES else ColumnType.STRING)
    raise AssertionError(f"unhandled field type {spec.type}")


# The envelope as stored: ``kind`` is the table itself; event_id leads, the identity re-deliveries collapse on.
_ENVELOPE = tuple(sorted((spec for spec in ENVELOPE if spec.name != "kind"), key=lambda spec: spec.name != "event_id"))

# ClickHouse rows also carry their retention so whole parts expire (see migration 0001).
_RETENTION = Column("retention_days", ColumnType.INT, 2**16 - 1)

# Columns every event table has that the database fills itself (DEFAULT now()); no sink writes them.
DATABASE_FILLED: tuple[str, ...] = ("ingested_at",)

# Columns only Lookout's own writers fill, never the pipeline: the platform's audit rows
# (warehouse/migrations/postgres/0006) carry who acted and how, and `platform` marks them as
# Lookout's, so an app server's admin_audit events must never be able to set these; a security event's
# investigation time is set by the security page's workflow (0016), never by the event.
PLATFORM_ONLY: dict[str, tuple[str, ...]] = {
    "admin_audit_logs": ("platform", "actor_account_id", "token_id", "request_id", "outcome", "txid"),
    "security_events": ("investigated_at",),
}

# Where each kind lives: the analytical kinds in ClickHouse, the transactional ones in PostgreSQL.
_PLACES: dict[str, tuple[Database, str]] = {
    "log": (Database.CLICKHOUSE, "logs"),
    "api_metric": (Database.CLICKHOUSE, "api_metrics"),
    "system_metric": (Database.CLICKHOUSE, "system_metrics"),
    "blockchain_event": (Database.CLICKHOUSE, "blockchain_events"),
    "admin_audit": (Database.POSTGRES, "admin_audit_logs"),
    "security_event": (Database.POSTGRES, "security_events"),
}


def _table(kind: str) -> Table:
    try:
        database, name = _PLACES[kind]
    except KeyError:
        raise LookupError(f"the contract's kind {kind!r} has no table in warehouse/tables.py") from None
    columns = tuple(column_for(spec, database) for spec in _ENVELOPE + schema_for(kind))
    storage_only = (_RETENTION,) if database is Database.CLICKHOUSE else ()
    return Table(kind, database, name, columns + storage_only)


TABLES: dict[str, Table] = {kind: _table(kind) for kind in KINDS}


def kinds_in(database: Database) -> list[str]:
    return [kind for kind, table in TABLES.items() if table.database is database]
