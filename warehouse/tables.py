"""Where each event kind is stored, and how each field becomes a column value.

This is the storage side of the event contract: the migrations create these
columns, the pipeline fills them from the wire form of validated events, and a
unit test keeps this map, the contract and the migrations in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


U16, U32, U64 = 2**16 - 1, 2**32 - 1, 2**64 - 1
T = ColumnType

_ENVELOPE = (
    Column("event_id", T.UUID),
    Column("timestamp", T.TIMESTAMP),
    Column("service", T.STRING),
    Column("instance", T.STRING),
)

_LOG = (
    Column("level", T.STRING),
    Column("message", T.STRING),
    Column("category", T.STRING),
    Column("event_type", T.STRING),
    Column("user_id", T.STRING),
    Column("admin_id", T.STRING),
    Column("session_id", T.STRING),
    Column("request_id", T.STRING),
    Column("correlation_id", T.STRING),
    Column("ip_address", T.STRING),
    Column("user_agent", T.STRING),
    Column("endpoint", T.STRING),
    Column("method", T.STRING),
    Column("status_code", T.NULLABLE_INT, U16),
    Column("response_time_ms", T.NULLABLE_FLOAT),
    Column("request_size_bytes", T.NULLABLE_INT, U64),
    Column("response_size_bytes", T.NULLABLE_INT, U64),
    Column("error_code", T.STRING),
    Column("error_message", T.STRING),
    Column("error_stack", T.STRING),
    Column("request_data", T.JSON),
    Column("response_data", T.JSON),
    Column("metadata", T.JSON),
)

_API_METRIC = (
    Column("endpoint", T.STRING),
    Column("method", T.STRING),
    Column("status_code", T.INT, U16),
    Column("response_time_ms", T.FLOAT),
    Column("request_size_bytes", T.NULLABLE_INT, U64),
    Column("response_size_bytes", T.NULLABLE_INT, U64),
    Column("cache_hit", T.BOOL),
    Column("user_id", T.STRING),
    Column("error_type", T.STRING),
    Column("database_query_time_ms", T.NULLABLE_FLOAT),
    Column("external_api_time_ms", T.NULLABLE_FLOAT),
    Column("concurrent_requests", T.NULLABLE_INT, U32),
    Column("memory_usage_mb", T.NULLABLE_FLOAT),
    Column("cpu_usage_percent", T.NULLABLE_FLOAT),
    Column("metadata", T.JSON),
)

_SYSTEM_METRIC = (
    Column("metric_type", T.STRING),
    Column("metric_name", T.STRING),
    Column("value", T.FLOAT),
    Column("unit", T.STRING),
    Column("threshold_warning", T.NULLABLE_FLOAT),
    Column("threshold_critical", T.NULLABLE_FLOAT),
    Column("metadata", T.JSON),
)

_BLOCKCHAIN_EVENT = (
    Column("event_type", T.STRING),
    Column("contract_address", T.STRING),
    Column("transaction_hash", T.STRING),
    Column("block_number", T.NULLABLE_INT, U64),
    Column("block_hash", T.STRING),
    Column("log_index", T.NULLABLE_INT, U32),
    Column("event_signature", T.STRING),
    Column("decoded_data", T.JSON),
    Column("raw_data", T.STRING),
    Column("processed", T.BOOL),
    Column("processing_attempts", T.INT, U32),
    Column("last_processing_error", T.STRING),
    Column("processed_at", T.NULLABLE_TIMESTAMP),
    Column("metadata", T.JSON),
)

_ADMIN_AUDIT = (
    Column("admin_id", T.STRING),
    Column("action", T.STRING),
    Column("resource_type", T.STRING),
    Column("resource_id", T.STRING),
    Column("old_values", T.JSON),
    Column("new_values", T.JSON),
    Column("ip_address", T.IP),
    Column("user_agent", T.STRING),
    Column("session_id", T.STRING),
    Column("justification", T.STRING),
    Column("approval_required", T.BOOL),
    Column("approved_by", T.STRING),
    Column("approved_at", T.NULLABLE_TIMESTAMP),
    Column("metadata", T.JSON),
)

_SECURITY_EVENT = (
    Column("event_type", T.STRING),
    Column("severity", T.STRING),
    Column("user_id", T.STRING),
    Column("ip_address", T.IP),
    Column("user_agent", T.STRING),
    Column("endpoint", T.STRING),
    Column("threat_indicators", T.JSON),
    Column("automatic_action_taken", T.STRING),
    Column("investigated", T.BOOL),
    Column("investigated_by", T.STRING),
    Column("investigation_notes", T.STRING),
    Column("false_positive", T.BOOL),
    Column("metadata", T.JSON),
)

# ClickHouse rows also carry their retention so whole parts expire (see migration 0001).
_RETENTION = (Column("retention_days", T.INT, U16),)

TABLES: dict[str, Table] = {
    "log": Table("log", Database.CLICKHOUSE, "logs", _ENVELOPE + _LOG + _RETENTION),
    "api_metric": Table("api_metric", Database.CLICKHOUSE, "api_metrics", _ENVELOPE + _API_METRIC + _RETENTION),
    "system_metric": Table(
        "system_metric", Database.CLICKHOUSE, "system_metrics", _ENVELOPE + _SYSTEM_METRIC + _RETENTION
    ),
    "blockchain_event": Table(
        "blockchain_event", Database.CLICKHOUSE, "blockchain_events", _ENVELOPE + _BLOCKCHAIN_EVENT + _RETENTION
    ),
    "admin_audit": Table("admin_audit", Database.POSTGRES, "admin_audit_logs", _ENVELOPE + _ADMIN_AUDIT),
    "security_event": Table("security_event", Database.POSTGRES, "security_events", _ENVELOPE + _SECURITY_EVENT),
}


def kinds_in(database: Database) -> list[str]:
    return [kind for kind, table in TABLES.items() if table.database is database]
