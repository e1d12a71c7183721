"""The event kinds and their columns: the single source for the collector's validation and the
warehouse's table definitions.

Names are the snake_case columns an API server's own log, metric and audit tables would have, adapted
where an observability platform needs something else: user/admin ids are bounded strings rather than
foreign keys (Lookout never sees the application's users table), request/correlation ids allow 64
characters (W3C trace ids are 32 hex digits, many request ids are not UUIDs), durations are floats in
milliseconds, and every kind has a ``metadata`` object that also receives any field the contract does
not know.

Column conventions, which the table definitions rely on: optional strings, enums and IP addresses default
to "" (ClickHouse strings are non-nullable), optional numbers, JSON values and secondary timestamps
default to null, booleans default to false, ``metadata`` defaults to {}. Timestamps are epoch milliseconds.
Integers are non-negative (ClickHouse stores them unsigned); counters are capped at 2**32-1 (a 32-bit
INTEGER in the application's own tables), sizes and block numbers at 2**63-1.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from lookout.contract.fields import (
    KIB,
    UINT32_MAX,
    FieldSpec,
    FieldType,
    boolean,
    enum,
    integer,
    ip,
    json_object,
    json_value,
    number,
    string,
    timestamp,
)

KINDS: tuple[str, ...] = ("log", "api_metric", "system_metric", "blockchain_event", "admin_audit", "security_event")

LEVELS: tuple[str, ...] = ("error", "warn", "info", "debug", "trace")
# Lower-cased spellings from common logging stacks: syslog (emerg..notice), Python (warning, critical),
# log4j/pino/zap (fatal, panic), java.util.logging (severe), and Winston's npm levels (http, verbose, silly),
# which is what Node.js API servers commonly log with. Everything at or above "error" collapses to error because the
# five-level scale has nothing higher.
LEVEL_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "warning": "warn",
        "err": "error",
        "fatal": "error",
        "critical": "error",
        "crit": "error",
        "alert": "error",
        "emerg": "error",
        "emergency": "error",
        "panic": "error",
        "severe": "error",
        "notice": "info",
        "information": "info",
        "informational": "info",
        "http": "info",
        "verbose": "debug",
        "silly": "trace",
    }
)

HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SEVERITY_ALIASES: Mapping[str, str] = MappingProxyType({"moderate": "medium"})

TEXT_MAX = 64 * KIB
SERVICE_PATTERN = r"[A-Za-z0-9_.:/-]+"

# Present on every kind. The collector assigns event_id when it is absent; instance names the server
# instance (host, pod or process name).
ENVELOPE: tuple[FieldSpec, ...] = (
    FieldSpec("kind", FieldType.ENUM, required=True, choices=KINDS),
    timestamp("timestamp", required=True),
    string("service", 128, required=True, pattern=SERVICE_PATTERN),
    FieldSpec("event_id", FieldType.UUID),
    string("instance", 128),
)


def _method(required: bool = False) -> FieldSpec:
    return enum("method", HTTP_METHODS, required=required)


_LOG: tuple[FieldSpec, ...] = (
    enum("level", LEVELS, required=True, aliases=LEVEL_ALIASES),
    # An empty message is legitimate (OpenTelemetry log records without a body, attribute-only events).
    string("message", TEXT_MAX, required=True, min_len=0),
    string("category", 50),
    string("event_type", 50),
    string("user_id", 64),
    string("admin_id", 64),
    string("session_id", 100),
    string("request_id", 64),
    string("correlation_id", 64),
    ip("ip_address"),
    string("user_agent", 1024),
    string("endpoint", 255),
    _method(),
    integer("status_code", min_value=100, max_value=599),
    number("response_time_ms", min_value=0),
    integer("request_size_bytes"),
    integer("response_size_bytes"),
    string("error_code", 50),
    string("error_message", TEXT_MAX),
    string("error_stack", TEXT_MAX),
    json_value("request_data"),
    json_value("response_data"),
    json_object("metadata"),
)

_API_METRIC: tuple[FieldSpec, ...] = (
    string("endpoint", 255, required=True),
    _method(required=True),
    integer("status_code", required=True, min_value=100, max_value=599),
    number("response_time_ms", required=True, min_value=0),
    integer("request_size_bytes"),
    integer("response_size_bytes"),
    boolean("cache_hit"),
    string("user_id", 64),
    string("error_type", 50),
    number("database_query_time_ms", min_value=0),
    number("external_api_time_ms", min_value=0),
    integer("concurrent_requests", max_value=UINT32_MAX),
    number("memory_usage_mb", min_value=0),
    # Per-process CPU can exceed 100% on multi-core hosts; 10000% covers a 100-core machine.
    number("cpu_usage_percent", min_value=0, max_value=10_000),
    json_object("metadata"),
)

_SYSTEM_METRIC: tuple[FieldSpec, ...] = (
    string("metric_type", 50, required=True),
    string("metric_name", 100, required=True),
    number("value", required=True),
    string("unit", 20),
    number("threshold_warning"),
    number("threshold_critical"),
    json_object("metadata"),
)

_BLOCKCHAIN_EVENT: tuple[FieldSpec, ...] = (
    string("event_type", 50, required=True),
    string("contract_address", 42),
    string("transaction_hash", 66),
    integer("block_number"),
    string("block_hash", 66),
    integer("log_index", max_value=UINT32_MAX),
    string("event_signature", 66),
    json_value("decoded_data"),
    string("raw_data", TEXT_MAX),
    boolean("processed"),
    integer("processing_attempts", max_value=UINT32_MAX, default=0),
    string("last_processing_error", TEXT_MAX),
    timestamp("processed_at"),
    json_object("metadata"),
)

_ADMIN_AUDIT: tuple[FieldSpec, ...] = (
    string("action", 100, required=True),
    string("admin_id", 64),
    string("resource_type", 50),
    string("resource_id", 255),
    json_value("old_values"),
    json_value("new_values"),
    ip("ip_address"),
    string("user_agent", 1024),
    string("session_id", 100),
    string("justification", TEXT_MAX),
    boolean("approval_required"),
    string("approved_by", 64),
    timestamp("approved_at"),
    json_object("metadata"),
)

_SECURITY_EVENT: tuple[FieldSpec, ...] = (
    string("event_type", 50, required=True),
    enum("severity", SEVERITIES, required=True, aliases=SEVERITY_ALIASES),
    string("user_id", 64),
    ip("ip_address"),
    string("user_agent", 1024),
    string("endpoint", 255),
    json_value("threat_indicators"),
    string("automatic_action_taken", 100),
    boolean("investigated"),
    string("investigated_by", 64),
    string("investigation_notes", TEXT_MAX),
    boolean("false_positive"),
    json_object("metadata"),
)

SCHEMAS: Mapping[str, tuple[FieldSpec, ...]] = MappingProxyType(
    {
        "log": _LOG,
        "api_metric": _API_METRIC,
        "system_metric": _SYSTEM_METRIC,
        "blockchain_event": _BLOCKCHAIN_EVENT,
        "admin_audit": _ADMIN_AUDIT,
        "security_event": _SECURITY_EVENT,
    }
)


def schema_for(kind: str) -> tuple[FieldSpec, ...]:
    """The field specs of one kind, in column order (envelope fields excluded: see ENVELOPE)."""
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def columns_for(kind: str) -> list[str]:
    """The column names of one kind, in declaration order, envelope excluded."""
    return [spec.name for spec in schema_for(kind)]


def field_spec(kind: str, name: str) -> FieldSpec:
    """One column's spec, e.g. to check that a mapped value will fit before moving it into a column."""
    for spec in schema_for(kind):
        if spec.name == name:
            return spec
    raise KeyError(f"{kind} has no field {name!r}")
