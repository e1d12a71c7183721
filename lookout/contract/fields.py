"""Field types of the event contract and the checkers compiled from them.

A :class:`FieldSpec` is pure data, so the warehouse can derive table columns
from the same declarations the collector enforces. :func:`compile_checker`
turns one spec into a closure that validates and normalizes a single value;
doing the per-type branching once at import time, instead of per event, is
what keeps validation cheap on the collector's hot path.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from ipaddress import IPv6Address, ip_address
from types import MappingProxyType

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT32_MAX = 2**32 - 1
# orjson serializes integers up to the unsigned 64-bit maximum; anything larger would fail only later,
# when the event is produced to Kafka, so JSON values are held to that range here.
_JSON_INT_MAX = 2**64 - 1
KIB = 1024
MAX_JSON_DEPTH = 16
DAY_MS = 86_400_000
# Secondary timestamps (processed_at, approved_at) are not bounded by the receive time; this range is the
# one every sink can store (ClickHouse DateTime64 goes further, but nothing legitimate is outside it).
TIMESTAMP_MIN_MS = 0
TIMESTAMP_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z

Checker = Callable[[object], object]


class FieldError(ValueError):
    """A single value broke its field's rule; the caller prefixes the field name."""


class FieldType(StrEnum):
    STR = "str"
    ENUM = "enum"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    JSON = "json"
    IP = "ip"
    UUID = "uuid"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an event kind.

    ``max_len``/``min_len`` count characters (as PostgreSQL VARCHAR does), ``min_value``/``max_value``
    bound numbers inclusively, ``choices`` are the canonical enum values and ``aliases`` map
    lower-cased alternative spellings onto them. ``object_only`` restricts a JSON field to objects
    (otherwise arrays are accepted too). ``default`` is what an absent or null optional field becomes;
    a ``None`` default means the column is nullable.
    """

    name: str
    type: FieldType
    required: bool = False
    max_len: int = 0
    min_len: int = 0
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] = ()
    # Left out of the hash (a mapping proxy is unhashable) so specs can still live in sets and dict keys.
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    pattern: str | None = None
    object_only: bool = False
    default: object = field(default=None, hash=False)

    @property
    def nullable(self) -> bool:
        return not self.required and self.default is None


# --- declaration helpers: keep the per-kind schemas one readable line per column -------------------


def string(
    name: str, max_len: int, *, required: bool = False, min_len: int | None = None, pattern: str | None = None
) -> FieldSpec:
    # A required identifier that is empty is as useless as a missing one, so required implies non-empty
    # unless a field (like a log message) opts out.
    return FieldSpec(
        name,
        FieldType.STR,
        required=required,
        max_len=max_len,
        min_len=(1 if required else 0) if min_len is None else min_len,
        pattern=pattern,
        default=None if required else "",
    )


def enum(
    name: str, choices: tuple[str, ...], *, required: bool = False, aliases: Mapping[str, str] | None = None
) -> FieldSpec:
    return FieldSpec(
        name,
        FieldType.ENUM,
        required=required,
        choices=choices,
        aliases=MappingProxyType(dict(aliases or {})),
        default=None if required else "",
    )


def integer(
    name: str, *, required: bool = False, min_value: int = 0, max_value: int = INT64_MAX, default: int | None = None
) -> FieldSpec:
    return FieldSpec(name, FieldType.INT, required=required, min_value=min_value, max_value=max_value, default=default)


def number(
    name: str, *, required: bool = False, min_value: float | None = None, max_value: float | None = None
) -> FieldSpec:
    return FieldSpec(name, FieldType.FLOAT, required=required, min_value=min_value, max_value=max_value)


def boolean(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.BOOL, default=False)


def json_value(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.JSON)


def json_object(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.JSON, object_only=True, default=MappingProxyType({}))


def ip(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.IP, default="")


def timestamp(name: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, FieldType.TIMESTAMP, required=required)


# --- value checkers --------------------------------------------------------------------------------


def show(value: object, limit: int = 40) -> str:
    """A short repr for error messages: echoing a 64 KiB value back to the client helps nobody."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _str_checker(spec: FieldSpec) -> Checker:
    max_len, min_len = spec.max_len, spec.min_len
    matcher = re.compile(spec.pattern).fullmatch if spec.pattern else None
    if min_len == 0:
        length_msg = f"must be at most {max_len} characters"
    elif min_len == 1:
        length_msg = f"must be a non-empty string of at most {max_len} characters"
    else:
        length_msg = f"must be {min_len} to {max_len} characters"

    def check(value: object) -> object:
        if type(value) is not str:
            raise FieldError("must be a string")
        if not min_len <= len(value) <= max_len:
            raise FieldError(length_msg)
        # PostgreSQL text and JSONB cannot store NUL, and a NUL in a log line is almost always a
        # binary-to-text bug upstream; rejecting it everywhere keeps all sinks able to store every event.
        if "\x00" in value:
            raise FieldError("must not contain NUL characters")
        if matcher is not None and matcher(value) is None:
            raise FieldError(f"must match {spec.pattern}")
        return value

    return check


def _enum_checker(spec: FieldSpec) -> Checker:
    table = {choice.lower(): choice for choice in spec.choices}
    table.update(spec.aliases)
    exact = {choice: choice for choice in spec.choices}
    allowed = ", ".join(spec.choices)
    if not spec.required:
        exact[""] = ""
        allowed += ' or ""'
    msg = f"must be one of {allowed}"

    def check(value: object) -> object:
        if type(value) is not str:
            raise FieldError(msg)
        found = exact.get(value)
        if found is None:
            found = table.get(value.lower())
            if found is None:
                raise FieldError(f"{msg} (got {show(value)})")
        return found

    return check


def _range_msg(noun: str, low: float | None, high: float | None) -> str:
    def fmt(bound: float) -> str:
        return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"

    if low is not None and high is not None and high != INT64_MAX:
        return f"must be {noun} between {fmt(low)} and {fmt(high)}"
    if low is not None:
        return f"must be {noun} >= {fmt(low)}"
    if high is not None:
        return f"must be {noun} <= {fmt(high)}"
    return f"must be {noun}"


def _int_checker(spec: FieldSpec) -> Checker:
    low = INT64_MIN if spec.min_value is None else int(spec.min_value)
    high = INT64_MAX if spec.max_value is None else int(spec.max_value)
    msg = _range_msg("an integer", spec.min_value, spec.max_value)

    def check(value: object) -> object:
        kind = type(value)
        if kind is int:
            if low <= value <= high:  # type: ignore[operator]
                return value
        # JavaScript has one number type and some serializers write 200 as 200.0 or 2e2, so an integral
        # float is accepted; 12.5 or "200" are still rejected (no lossy or textual coercion).
        elif kind is float and value.is_integer() and low <= value <= high:  # type: ignore[union-attr,operator]
            return int(value)  # type: ignore[arg-type]
        raise FieldError(msg)

    return check


def _float_checker(spec: FieldSpec) -> Checker:
    low = -math.inf if spec.min_value is None else spec.min_value
    high = math.inf if spec.max_value is None else spec.max_value
    msg = _range_msg("a finite number", spec.min_value, spec.max_value)

    def check(value: object) -> object:
        kind = type(value)
        if kind is float:
            # NaN fails both comparisons; infinities fail isfinite, which matters only when unbounded.
            if low <= value <= high and math.isfinite(value):  # type: ignore[operator,arg-type]
                return value
        elif kind is int and low <= value <= high:  # type: ignore[operator]
            try:
                return float(value)  # type: ignore[arg-type]
            except OverflowError:
                pass
        raise FieldError(msg)

    return check


def _bool_check(value: object) -> object:
    # No truthiness: 0/1 or "false" are ambiguous enough that the client should send a real boolean.
    if type(value) is bool:
        return value
    raise FieldError("must be true or false")


def _walk_json(container: dict | list, depth: int) -> None:
    """Check what orjson.loads guarantees for the body but Python callers (the OTLP mapper) might not,
    plus the rules of our sinks: bounded depth, no NUL, string keys, finite 64-bit numbers."""
    if depth > MAX_JSON_DEPTH:
        raise FieldError(f"must not be nested deeper than {MAX_JSON_DEPTH} levels")
    if type(container) is dict:
        for key in container:
            if type(key) is not str:
                raise FieldError(f"object keys must be strings (got {show(key)})")
            if "\x00" in key:
                raise FieldError("must not contain NUL characters")
        children = container.values()
    else:
        children = container
    for child in children:
        kind = type(child)
        if kind is str:
            if "\x00" in child:
                raise FieldError("must not contain NUL characters")
        elif kind is dict or kind is list:
            _walk_json(child, depth + 1)
        elif kind is int:
            if not INT64_MIN <= child <= _JSON_INT_MAX:
                raise FieldError("integers must fit in 64 bits")
        elif kind is float:
            if not math.isfinite(child):
                raise FieldError("numbers must be finite")
        elif child is not None and kind is not bool:
            raise FieldError(f"unsupported JSON value of type {kind.__name__}")


def check_json_object(value: object, depth: int = 1) -> dict:
    """Validate a JSON object value; ``depth`` is the nesting level the object itself sits at."""
    if type(value) is not dict:
        raise FieldError("must be a JSON object")
    _walk_json(value, depth)
    return value


def _json_checker(spec: FieldSpec) -> Checker:
    if spec.object_only:
        return check_json_object

    def check(value: object) -> object:
        if type(value) is not dict and type(value) is not list:
            raise FieldError("must be a JSON object or array")
        _walk_json(value, 1)  # type: ignore[arg-type]
        return value

    return check


_IP_MSG = "must be an IPv4 or IPv6 address"
_AF_INET = socket.AF_INET
_inet_pton = socket.inet_pton


def check_ip(value: object) -> str:
    """Validate and normalize an IP address string ("" means absent)."""
    if type(value) is not str:
        raise FieldError(_IP_MSG)
    if value == "":
        return value
    if ":" not in value:
        # inet_pton accepts exactly canonical dotted-quad IPv4 (no leading zeros, no short forms), so the
        # input is already normalized; it is ~25x faster than the ipaddress module for the common case.
        try:
            _inet_pton(_AF_INET, value)
        except (OSError, ValueError):
            raise FieldError(f"{_IP_MSG} (got {show(value)})") from None
        return value
    try:
        address = ip_address(value)
    except ValueError:
        raise FieldError(f"{_IP_MSG} (got {show(value)})") from None
    assert isinstance(address, IPv6Address)
    # Zone ids ("%eth0") are host-local and neither PostgreSQL INET nor ClickHouse IPv6 can store them.
    if address.scope_id is not None:
        raise FieldError(f"{_IP_MSG} without a zone id (got {show(value)})")
    # Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; storing the IPv4 form keeps one client one key.
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else str(address)


_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"


def check_uuid(value: object) -> str:
    """Validate a UUID in canonical 8-4-4-4-12 form (any case) and return it lower-cased."""
    # uuid.UUID() would also take braces, urn: prefixes and hyphens anywhere; the wire format is one spelling
    # so that two retries of the same event always carry byte-identical ids for deduplication.
    if type(value) is not str or _UUID_RE.fullmatch(value) is None:
        raise FieldError(f"must be a UUID like 123e4567-e89b-12d3-a456-426614174000 (got {show(value)})")
    value = value.lower()
    if value == _NIL_UUID:
        # Sinks deduplicate on event_id, so a constant id would collapse unrelated events into one.
        raise FieldError("must not be the nil UUID")
    return value


# Public for the collector's OpenAPI document, which states the same rule.
RFC3339_PATTERN = r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)"
_RFC3339_RE = re.compile(RFC3339_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
TIMESTAMP_MSG = "must be an RFC 3339 timestamp with a UTC offset (e.g. 2024-05-01T12:00:00Z) or epoch milliseconds"


def parse_timestamp(value: object) -> int:
    """An RFC 3339 string or epoch milliseconds number -> epoch milliseconds (int, floored)."""
    kind = type(value)
    if kind is str:
        # The regex enforces RFC 3339's shape (an explicit offset above all: a naive time is ambiguous);
        # fromisoformat then does the calendar validation in C, truncating sub-microsecond digits.
        if _RFC3339_RE.fullmatch(value) is None:  # type: ignore[arg-type]
            raise FieldError(f"{TIMESTAMP_MSG} (got {show(value)})")
        try:
            parsed = datetime.fromisoformat(value.upper())  # type: ignore[union-attr]
        except ValueError:
            raise FieldError(f"{TIMESTAMP_MSG} (got {show(value)})") from None
        return (parsed - _EPOCH) // _ONE_MS
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return math.floor(value)  # type: ignore[arg-type]
    raise FieldError(TIMESTAMP_MSG)


def _timestamp_check(value: object) -> object:
    ms = parse_timestamp(value)
    if not TIMESTAMP_MIN_MS <= ms < TIMESTAMP_MAX_MS:
        raise FieldError("must be between 1970-01-01 and 2100-01-01")
    return ms


def compile_checker(spec: FieldSpec) -> Checker:
    """The validate-and-normalize function for one field (null handling is the caller's job)."""
    builders: dict[FieldType, Callable[[FieldSpec], Checker]] = {
        FieldType.STR: _str_checker,
        FieldType.ENUM: _enum_checker,
        FieldType.INT: _int_checker,
        FieldType.FLOAT: _float_checker,
        FieldType.BOOL: lambda _spec: _bool_check,
        FieldType.JSON: _json_checker,
        FieldType.IP: lambda _spec: check_ip,
        FieldType.UUID: lambda _spec: check_uuid,
        FieldType.TIMESTAMP: lambda _spec: _timestamp_check,
    }
    return builders[spec.type](spec)
