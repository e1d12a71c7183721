"""The statement that turns wire-form events into ClickHouse rows. Building it is pure.

ClickHouse parses the events itself (JSONEachRow, in C++ on every core): the
pipeline hands it the record bytes untouched, which is what lets one consumer
keep up with 100,000 events/s (docs/benchmarks.md). The SELECT maps wire names
onto columns, fills the retention, and checks what the column types alone do
not: an event of another kind, a missing service, event_id or timestamp, an
integer out of its column's range, a number that is not finite. Any failed
check makes ClickHouse refuse the whole insert, with the check's message; the
pipeline then isolates the refused events (pipeline/steps/writer.py).

Events from the collector already have exact types (the contract checks them),
and their JSON fields (objects or arrays) are stored as the compact text the
collector wrote. For records that bypass the collector, ClickHouse's JSON
reader is the rule: a string field given a number, boolean, object or array
keeps its JSON text, a quoted number is read as a number, null or an absent
field is the column's default; anything it cannot read refuses the event.
"""

from __future__ import annotations

from collections.abc import Mapping

from warehouse.tables import Column, ColumnType, Table

# Settings of every insert of wire-form events.
JSON_INPUT_SETTINGS: dict[str, object] = {
    "input_format_skip_unknown_fields": 1,
    "input_format_null_as_default": 1,
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_arrays_as_strings": 1,
    "input_format_json_read_numbers_as_strings": 1,
    "input_format_json_read_bools_as_strings": 1,
    "input_format_json_read_bools_as_numbers": 0,  # true is not an integer
    "input_format_allow_errors_num": 0,
    "input_format_allow_errors_ratio": 0,
}

_MAX_DATETIME64_MS = 10_413_791_999_999  # 2299-12-31 23:59:59.999, the end of DateTime64's range
_INT64_MAX = 2**63 - 1


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _integer_type(column: Column) -> str:
    # Int128 only where the column can hold more than Int64 can: parsing it costs more.
    return "Int128" if column.max_value is not None and column.max_value > _INT64_MAX else "Int64"


def _structure_type(column: Column) -> str:
    match column.type:
        case ColumnType.UUID | ColumnType.STRING | ColumnType.IP:
            return "String"
        case ColumnType.TIMESTAMP | ColumnType.NULLABLE_TIMESTAMP:
            return "Nullable(Int64)"
        case ColumnType.INT:
            return _integer_type(column)
        case ColumnType.NULLABLE_INT:
            return f"Nullable({_integer_type(column)})"
        case ColumnType.FLOAT | ColumnType.NULLABLE_FLOAT:
            return "Nullable(Float64)"
        case ColumnType.BOOL:
            return "Bool"
        case ColumnType.JSON:
            return "Nullable(String)"
    raise AssertionError(f"unhandled column type {column.type}")


def _value(column: Column) -> str:
    name = f"`{column.wire_name}`"
    match column.type:
        case ColumnType.UUID:
            return f"toUUID({name})"
        case ColumnType.TIMESTAMP:
            return f"fromUnixTimestamp64Milli(assumeNotNull({name}), 'UTC')"
        case ColumnType.NULLABLE_TIMESTAMP:
            return f"fromUnixTimestamp64Milli({name}, 'UTC')"
        case ColumnType.FLOAT:
            return f"assumeNotNull({name})"
        case ColumnType.JSON:
            return f"ifNull({name}, '')"
    return name


def _checks(column: Column) -> list[tuple[str, str]]:
    """(condition that refuses the event, message) for one column."""
    name, wire = column.name, f"`{column.wire_name}`"
    checks: list[tuple[str, str]] = []
    if column.type in (ColumnType.TIMESTAMP, ColumnType.FLOAT):
        # Required, so read as Nullable: an absent value is NULL rather than a silent default.
        checks.append((f"isNull({wire})", f"{name}: missing"))
    match column.type:
        case ColumnType.UUID:
            checks.append((f"isNull(toUUIDOrNull({wire}))", f"{name}: missing or not a UUID"))
        case ColumnType.TIMESTAMP | ColumnType.NULLABLE_TIMESTAMP:
            checks.append((f"ifNull({wire} < 0 OR {wire} > {_MAX_DATETIME64_MS}, 0)", f"{name}: out of range"))
        case ColumnType.INT | ColumnType.NULLABLE_INT:
            top = f" OR {wire} > {column.max_value}" if column.max_value is not None else ""
            bounds = f"0 to {column.max_value}" if column.max_value is not None else "at least 0"
            checks.append((f"ifNull({wire} < 0{top}, 0)", f"{name}: out of range for the column ({bounds})"))
        case ColumnType.FLOAT | ColumnType.NULLABLE_FLOAT:
            checks.append((f"ifNull(NOT isFinite({wire}), 0)", f"{name}: not a finite number"))
    if name == "service":
        checks.append((f"{wire} = ''", "service: missing"))
    return checks


def structure(table: Table) -> str:
    """The wire fields ClickHouse reads, with the types it parses them as."""
    fields = ["`kind` String"] + [
        f"`{c.wire_name}` {_structure_type(c)}" for c in table.columns if c.name != "retention_days"
    ]
    return ", ".join(fields)


def retention_expression(default_days: int, overrides: Mapping[str, int]) -> str:
    """retention_days of a row, as SQL: its service's override (LOOKOUT_RETENTION_OVERRIDES), else the default."""
    if not overrides:
        return f"toUInt16({int(default_days)})"
    services = ", ".join(_literal(service) for service in overrides)
    days = ", ".join(str(int(d)) for d in overrides.values())
    return f"toUInt16(transform(`service`, [{services}], [{days}], {int(default_days)}))"


def insert_wire_events(table: Table, source: str, retention: str) -> str:
    """INSERT ... SELECT from ``source`` (``file(...)`` or ``input(...)``, reading :func:`structure`)."""
    columns = ", ".join(f"`{c.name}`" for c in table.columns)
    values = ", ".join(retention if c.name == "retention_days" else _value(c) for c in table.columns)
    checks = [("`kind` != " + _literal(table.kind), f"event of another kind on the {table.kind} topic")]
    for column in table.columns:
        if column.name != "retention_days":
            checks.extend(_checks(column))
    refuse = " + ".join(f"throwIf({condition}, {_literal(message)})" for condition, message in checks)
    return f"INSERT INTO `{table.name}` ({columns}) SELECT {values} FROM {source} WHERE {refuse} = 0"


def file_source(path: str, table: Table) -> str:
    """Reading a local file of JSONEachRow rows (the embedded engine shares the pipeline's disk)."""
    return f"file({_literal(path)}, 'JSONEachRow', {_literal(structure(table))})"


def input_source(table: Table) -> str:
    """Reading the request body (a ClickHouse server); the statement must end in FORMAT JSONEachRow."""
    return f"input({_literal(structure(table))})"
