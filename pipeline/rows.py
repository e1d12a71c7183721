"""From the wire form of an event to a row of its table. Pure: no I/O.

The collector already validated every event, but the pipeline still treats a
record as untrusted input (older collectors, hand-produced records, a broken
producer): anything that cannot become a row raises :class:`PoisonEvent`, and
the event goes to the dead-letter topic instead of blocking its batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from warehouse.tables import Column, ColumnType, Database, Table

Row = tuple[Any, ...]
Converter = Callable[[Any], Any]


class PoisonEvent(ValueError):
    """This event can never be written; the message says why."""


_WIRE_NAMES = {"timestamp": "ts"}  # the compact wire form renames a few envelope fields


# What a field absent from the wire form stands for (the contract's defaults).
_DEFAULTS: dict[ColumnType, Any] = {ColumnType.STRING: "", ColumnType.BOOL: False, ColumnType.INT: 0}


def _ms_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _converter(column: Column, database: Database) -> Converter:
    t = column.type
    ch = database is Database.CLICKHOUSE

    def integer(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise PoisonEvent(f"{column.name}: expected an integer, got {type(value).__name__}")
        if ch and (value < 0 or (column.max_value is not None and value > column.max_value)):
            raise PoisonEvent(f"{column.name}: {value} is out of range for the column")
        return value

    def number(value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise PoisonEvent(f"{column.name}: expected a number, got {type(value).__name__}")
        return float(value)

    def string(value: Any) -> str:
        if not isinstance(value, str):
            raise PoisonEvent(f"{column.name}: expected a string, got {type(value).__name__}")
        return value

    def nullable(inner: Converter) -> Converter:
        return lambda value: None if value is None else inner(value)

    match t:
        case ColumnType.UUID:

            def event_id(value: Any) -> str:
                try:
                    return str(uuid.UUID(value))
                except (TypeError, ValueError, AttributeError):
                    raise PoisonEvent(f"{column.name}: not a UUID") from None

            return event_id
        case ColumnType.TIMESTAMP:
            return integer if ch else (lambda value: _ms_to_datetime(integer(value)))
        case ColumnType.NULLABLE_TIMESTAMP:
            return nullable(integer if ch else (lambda value: _ms_to_datetime(integer(value))))
        case ColumnType.STRING:
            return string
        case ColumnType.INT:
            return integer
        case ColumnType.NULLABLE_INT:
            return nullable(integer)
        case ColumnType.FLOAT:
            return number
        case ColumnType.NULLABLE_FLOAT:
            return nullable(number)
        case ColumnType.BOOL:

            def boolean(value: Any) -> bool:
                if not isinstance(value, bool):
                    raise PoisonEvent(f"{column.name}: expected true or false")
                return value

            return boolean
        case ColumnType.JSON:
            if ch:
                return lambda value: "" if value is None else orjson.dumps(value).decode()
            if column.name == "metadata":
                return lambda value: Jsonb({} if value is None else value)
            return lambda value: None if value is None else Jsonb(value)
        case ColumnType.IP:
            return lambda value: None if value in (None, "") else string(value)
    raise AssertionError(f"unhandled column type {t}")


class RowBuilder:
    """Builds rows of one table; converters are prepared once, not per event."""

    def __init__(self, table: Table, retention_days_for: Callable[[str], int]) -> None:
        self.table = table
        self._retention_days_for = retention_days_for
        self._plan = [
            (
                column.name,
                _WIRE_NAMES.get(column.name, column.name),
                _converter(column, table.database),
                _DEFAULTS.get(column.type),
            )
            for column in table.columns
        ]

    def build(self, event: Any) -> Row:
        if not isinstance(event, dict):
            raise PoisonEvent("event is not a JSON object")
        if event.get("kind") != self.table.kind:
            raise PoisonEvent(f"event of kind {event.get('kind')!r} on the {self.table.kind} topic")
        service = event.get("service")
        if not isinstance(service, str) or not service:
            raise PoisonEvent("service: missing")
        values = []
        for name, wire_name, convert, default in self._plan:
            if name == "retention_days":
                values.append(self._retention_days_for(service))
                continue
            if wire_name not in event and name in ("event_id", "timestamp"):
                raise PoisonEvent(f"{name}: missing")
            values.append(convert(event.get(wire_name, default)))
        return tuple(values)
