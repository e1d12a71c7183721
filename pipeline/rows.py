"""From the wire form of an event to a row of its PostgreSQL table. Pure: no I/O.

The collector already validated every event, but the pipeline still treats a
record as untrusted input (older collectors, hand-produced records, a broken
producer): anything that cannot become a row raises :class:`PoisonEvent`, and
the event goes to the dead-letter topic instead of blocking its batch.
(ClickHouse tables are filled from the wire form by ClickHouse itself:
warehouse/queries/inserts.py.)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from warehouse.tables import Column, ColumnType, Database, Table

Row = tuple[Any, ...]
Converter = Callable[[Any], Any]


class PoisonEvent(ValueError):
    """This event can never be written; the message says why."""


# What a field absent from the wire form stands for (the contract's defaults).
_DEFAULTS: dict[ColumnType, Any] = {ColumnType.STRING: "", ColumnType.BOOL: False, ColumnType.INT: 0}


# psycopg serialises Jsonb with the standard library's json.dumps unless told otherwise; orjson is several
# times faster. Values here come from orjson.loads, so both write the same JSON (no NaN, no huge ints),
# and PostgreSQL stores jsonb in its own normal form, so the stored values are the same too.
_jsonb_dumps = orjson.dumps


def _ms_to_datetime(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _converter(column: Column) -> Converter:
    t = column.type

    def integer(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise PoisonEvent(f"{column.name}: expected an integer, got {type(value).__name__}")
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
            return lambda value: _ms_to_datetime(integer(value))
        case ColumnType.NULLABLE_TIMESTAMP:
            return nullable(lambda value: _ms_to_datetime(integer(value)))
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
            if column.name == "metadata":
                return lambda value: Jsonb({} if value is None else value, _jsonb_dumps)
            return lambda value: None if value is None else Jsonb(value, _jsonb_dumps)
        case ColumnType.IP:
            return lambda value: None if value in (None, "") else string(value)
    raise AssertionError(f"unhandled column type {t}")


# What str(uuid.UUID(value)) returns: a value already in this form is returned unchanged.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ONLY_STR = frozenset({str})


class _NotFast(Exception):
    """The fast path cannot vouch for this value; the exact path decides (and words any error)."""


def _fast_converter(column: Column) -> tuple[str, Converter | None, Any]:
    """How :meth:`RowBuilder.build`'s fast path treats a column.

    ("str" | "uuid", None, None): checked inline, the value is kept. ("null", fn, none_value): None
    becomes none_value, anything else fn(value). ("call", fn, None): fn(value) for every value. Each fn
    returns exactly what the column's converter returns for values of the usual exact types and raises
    :class:`_NotFast` for anything else.
    """

    def integer(value: Any) -> int:
        if type(value) is int:
            return value
        raise _NotFast

    def number(value: Any) -> float:
        kind = type(value)
        if kind is float:
            return value
        if kind is int:
            return float(value)
        raise _NotFast

    def timestamp(value: Any) -> Any:
        if type(value) is int:
            return _ms_to_datetime(value)
        raise _NotFast

    def boolean(value: Any) -> bool:
        if type(value) is bool:
            return value
        raise _NotFast

    def ip(value: Any) -> str | None:
        if value is None:
            return None
        if type(value) is str:
            return value or None
        raise _NotFast

    match column.type:
        case ColumnType.STRING:
            return "str", None, None
        case ColumnType.UUID:
            return "uuid", None, None
        case ColumnType.TIMESTAMP:
            return "call", timestamp, None
        case ColumnType.NULLABLE_TIMESTAMP:
            return "null", timestamp, None
        case ColumnType.INT:
            return "call", integer, None
        case ColumnType.NULLABLE_INT:
            return "null", integer, None
        case ColumnType.FLOAT:
            return "call", number, None
        case ColumnType.NULLABLE_FLOAT:
            return "null", number, None
        case ColumnType.BOOL:
            return "call", boolean, None
        case ColumnType.JSON:
            return "call", _converter(column), None  # Jsonb wrappers: no checks to speed up
        case ColumnType.IP:
            return "call", ip, None
    raise AssertionError(f"unhandled column type {column.type}")


class RowBuilder:
    """Builds rows of one PostgreSQL table; converters are prepared once, not per event.

    :meth:`build` runs a fast path for events whose values have the usual exact types (what the
    collector produces): one dict lookup per column, type checks in tight loops, converters only for
    the columns that need one. Anything it cannot vouch for is rebuilt by :meth:`build_exact`, the
    column-by-column reference, so rows and PoisonEvent messages are the same either way.
    """

    def __init__(self, table: Table) -> None:
        if table.database is not Database.POSTGRES:
            raise ValueError(f"{table.name} is filled by ClickHouse from the wire form, not by RowBuilder")
        self.table = table
        self._plan = [
            (column.name, column.wire_name, _converter(column), _DEFAULTS.get(column.type)) for column in table.columns
        ]
        self._kind = table.kind
        self._wire_names = tuple(wire_name for _name, wire_name, _convert, _default in self._plan)
        self._defaults = tuple(default for _name, _wire_name, _convert, default in self._plan)
        self._str_idx: list[int] = []
        self._uuid_idx: list[int] = []
        self._null_idx: list[tuple[int, Converter, Any]] = []
        self._call_idx: list[tuple[int, Converter]] = []
        for index, column in enumerate(table.columns):
            how, fn, none_value = _fast_converter(column)
            if how == "str":
                self._str_idx.append(index)
            elif how == "uuid":
                self._uuid_idx.append(index)
            elif how == "null":
                assert fn is not None
                self._null_idx.append((index, fn, none_value))
            else:
                assert fn is not None
                self._call_idx.append((index, fn))
        # The string columns' values as one tuple, so their types are checked in C: set(map(type, ...)).
        self._strings: Callable[[list[Any]], tuple[Any, ...]] = (
            itemgetter(*self._str_idx)
            if len(self._str_idx) > 1
            else lambda values: tuple(values[i] for i in self._str_idx)
        )

    def build(self, event: Any) -> Row:
        try:
            if type(event) is not dict:
                raise _NotFast
            get = event.get
            if get("kind") != self._kind:
                raise _NotFast
            service = get("service")
            if type(service) is not str or not service:
                raise _NotFast
            values = list(map(get, self._wire_names, self._defaults))
            if not _ONLY_STR.issuperset(map(type, self._strings(values))):
                raise _NotFast
            for i in self._uuid_idx:
                value = values[i]
                if type(value) is not str or _CANONICAL_UUID.fullmatch(value) is None:
                    raise _NotFast
            for i, convert, none_value in self._null_idx:
                value = values[i]
                values[i] = none_value if value is None else convert(value)
            for i, convert in self._call_idx:
                values[i] = convert(values[i])
        except Exception:
            # _NotFast, or a converter's own error: the exact path raises what it would have raised.
            return self.build_exact(event)
        return tuple(values)

    def build_exact(self, event: Any) -> Row:
        """The reference: column by column, every value through its converter."""
        if not isinstance(event, dict):
            raise PoisonEvent("event is not a JSON object")
        if event.get("kind") != self.table.kind:
            raise PoisonEvent(f"event of kind {event.get('kind')!r} on the {self.table.kind} topic")
        service = event.get("service")
        if not isinstance(service, str) or not service:
            raise PoisonEvent("service: missing")
        values = []
        for name, wire_name, convert, default in self._plan:
            if wire_name not in event and name in ("event_id", "timestamp"):
                raise PoisonEvent(f"{name}: missing")
            values.append(convert(event.get(wire_name, default)))
        return tuple(values)
