"""Foreign log documents -> Lookout raw events: the names other loggers and shippers use. Pure: no I/O.

Every non-native route (Elasticsearch ``_bulk``, Loki push, and the HTTP outputs of syslog daemons,
Vector and Fluent Bit) maps what it received through :func:`map_document`, then hands the result to the
same validation as ``POST /v1/events``. The native route does not map: its documented contract (an
unknown field lands in metadata under its own name, a missing ``kind`` is an error) stays as it is.

Rules, in the order a document is read:

* ``kind``: the document's own when it is one of Lookout's kinds, else the API key's default kind (another
  tool's ``kind`` value then stays in metadata).
* Each contract name below takes the first alias present, looked up flat (``"log.level"``), then in any
  case (syslog-ng writes ``MESSAGE``), then nested (``{"log": {"level": ...}}``, as ECS and pino write
  them); later aliases stay in metadata.
* ``timestamp``: RFC 3339 (a time without an offset is UTC, as Elasticsearch reads it), or an epoch
  number (or digit string) whose magnitude says its unit: seconds (Fluent Bit's float included),
  milliseconds, microseconds or nanoseconds. Absent: the time the collector received it, as
  Elasticsearch and Loki clients that send none expect.
* ``level``: a name (the contract's aliases apply) or pino's numbers 10..60. Absent: ``info``, as for
  OTLP records with no severity.
* A name that is a column of the kind passes through; everything else goes into ``metadata`` (a
  document's own ``metadata`` object is its base).
* ``service`` and ``message`` have no default (a route may pass one, e.g. the index name): an event
  still lacking either is refused by validation with an error naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lookout.contract import KINDS, columns_for
from lookout.contract.fields import FieldError, parse_timestamp

# The last names of each list are syslog's (syslog-ng's format-json, rsyslog's properties and its StdJSONFmt
# template, omhttp's default body: "fromhost" holds the message's HOSTNAME there).
MESSAGE = ("message", "msg", "log", "short_message")
# isodate before date: syslog-ng's DATE is the BSD form without a year.
TIMESTAMP = ("timestamp", "@timestamp", "isodate", "time", "ts", "date", "timereported")
LEVEL = ("level", "severity", "log.level", "levelname", "priority", "syslogseverity-text")
INSTANCE = ("instance", "host", "hostname", "host.name", "fromhost")
SERVICE = ("service", "service.name", "app", "appname", "logger", "app-name", "program", "programname")
REQUEST_ID = ("request_id", "req.id")
CORRELATION_ID = ("correlation_id", "trace_id")
DEFAULT_LEVEL = "info"

# pino's numeric levels (and bunyan's, which pino copied); 60 is fatal, which the five-level scale has as error.
PINO_LEVELS: Mapping[int, str] = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "error"}
_SERVICE_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/-]")
_EPOCH_NUMBER = re.compile(r"\d{1,20}(\.\d+)?")
# An offset or a Z at the end of an ISO time: without one the time is read as UTC.
_HAS_OFFSET = re.compile(r"(Z|z|[+-]\d\d:?\d\d)$")
_COLUMNS: Mapping[str, frozenset[str]] = {kind: frozenset(columns_for(kind)) - {"metadata"} for kind in KINDS}
# Magnitude bounds between units: 1e11 s is the year 5138, 1e14 ms the year 5138, 1e17 us likewise.
_SECONDS_BELOW, _MILLIS_BELOW, _MICROS_BELOW = 1e11, 1e14, 1e17


@dataclass(frozen=True, slots=True)
class _Group:
    """One contract name, the aliases that fill it in order, and what a usable value's type is."""

    aliases: tuple[str, ...]
    types: tuple[type, ...]
    # The names an alias reads first: the flat names and the heads of the nested ones ("log" of "log.level").
    # A group none of whose names is in the document is passed over without a look-up per alias.
    names: frozenset[str]
    # The types without their subclasses (bool is an int), for the look-up of the first name.
    exact: frozenset[type]


def _group(aliases: tuple[str, ...], types: tuple[type, ...]) -> _Group:
    return _Group(aliases, types, frozenset(a.partition(".")[0] for a in aliases) | frozenset(aliases),
                  frozenset(types))


_MESSAGE = _group(MESSAGE, (str,))
_TIMESTAMP = _group(TIMESTAMP, (str, int, float))
_LEVEL = _group(LEVEL, (str, int))
_INSTANCE = _group(INSTANCE, (str,))
_SERVICE = _group(SERVICE, (str,))
_REQUEST_ID = _group(REQUEST_ID, (str, int))
_CORRELATION_ID = _group(CORRELATION_ID, (str, int))
_GROUPS = (_MESSAGE, _TIMESTAMP, _LEVEL, _INSTANCE, _SERVICE, _REQUEST_ID, _CORRELATION_ID)  # in reading order
_ALIAS_NAMES = frozenset().union(*(group.names for group in _GROUPS))


# A mapper compiled for one shape (see _plan): the event, or None when a value under a planned name is null,
# empty or of another type, and only the walk knows which alias fills its group.
_Planned = Callable[[Mapping[str, object], int, "str | None"], "dict[str, object] | None"]


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a document's names (in order) say about the aliases, for one default kind."""

    any_case: bool  # an upper-case name: aliases are looked up in any case
    groups: tuple[tuple[int, _Group], ...]  # the groups to read, with their place in _GROUPS
    plan: _Planned | None


# _shape's answers per (default kind, tuple of a document's names). Bounded, since the names come from clients.
_SHAPES: dict[tuple[str, tuple[str, ...]], _Shape] = {}
_SHAPES_MAX = 1024
# clean_service's answers for the service names seen lately: a busy route sees a handful, each a regex
# substitution otherwise. Bounded, since the names come from clients.
_CLEAN_SERVICES: dict[str, str] = {}
_CLEAN_SERVICES_MAX = 1024


def map_document(
    document: Mapping[str, object],
    *,
    default_kind: str,
    received_ms: int,
    fallback_service: str | None = None,
) -> dict[str, object]:
    """A raw event for :func:`lookout.contract.validate_event` built from a foreign log document."""
    # A shipper sends the same names in every record: what they say about the aliases is worked out once.
    shape = (default_kind, tuple(document))
    known = _SHAPES.get(shape)
    if known is None:
        known = _shape(*shape)
        if len(_SHAPES) < _SHAPES_MAX:
            _SHAPES[shape] = known
    if known.plan is not None:
        event = known.plan(document, received_ms, fallback_service)
        if event is not None:
            return event
    return _walk(document, known, default_kind=default_kind, received_ms=received_ms,
                 fallback_service=fallback_service)


def _walk(
    document: Mapping[str, object], known: _Shape, *, default_kind: str, received_ms: int,
    fallback_service: str | None,
) -> dict[str, object]:
    """map_document for any document: each group's aliases looked up in turn, flat, in any case, nested."""
    doc = dict(document)
    kind = doc.get("kind")
    if type(kind) is str and kind.lower() in _COLUMNS:
        kind = kind.lower()
        del doc["kind"]
    else:
        kind = default_kind  # another tool's own "kind" (Kubernetes' "Pod"...) stays in metadata
    event: dict[str, object] = {"kind": kind}

    found: list[object | None] = [None] * len(_GROUPS)
    for position, group in known.groups:  # one loop rather than a call per name: calls were a tenth of it
        # A value under the group's first name, of one of its exact types, is what the walk would take first.
        first = group.aliases[0]
        value = doc.get(first)
        if type(value) in group.exact and value != "":
            del doc[first]
            found[position] = value
        else:
            found[position] = _take(doc, group, known.any_case)
    _fill(event, found, received_ms, fallback_service)

    given = doc.pop("metadata", None)
    metadata: dict[str, object] = dict(given) if type(given) is dict else {}
    if given is not None and type(given) is not dict:
        metadata["metadata"] = given
    columns = _COLUMNS.get(kind, frozenset())
    for name, value in doc.items():
        if name in columns or name == "event_id":
            event[name] = value
        else:
            metadata[name] = value
    event["metadata"] = metadata
    return event


def _fill(event: dict[str, object], found: list[object | None], received_ms: int,
          fallback_service: str | None) -> None:
    """The groups' values (in _GROUPS' order, None where absent) normalized into the event."""
    message, timestamp, level, instance, service, request_id, correlation_id = found
    if message is not None:
        event["message"] = message
    if timestamp is None:
        event["timestamp"] = received_ms
    elif type(timestamp) is int and _SECONDS_BELOW <= timestamp < _MILLIS_BELOW:
        event["timestamp"] = timestamp  # already epoch milliseconds, as most shippers send it
    else:
        event["timestamp"] = normalize_timestamp(timestamp)  # type: ignore[arg-type]
    if level is None:
        event["level"] = DEFAULT_LEVEL
    elif type(level) is str and not level.isdecimal():
        event["level"] = level
    else:
        event["level"] = normalize_level(level)  # type: ignore[arg-type]
    if instance is not None:
        event["instance"] = instance
    if service is None:
        service = fallback_service
    if service is not None:
        event["service"] = clean_service(service)  # type: ignore[arg-type]
    if request_id is not None:
        event["request_id"] = str(request_id)
    if correlation_id is not None:
        event["correlation_id"] = str(correlation_id)


# The names map_native reads: the contract's own, as the syslog parser writes them.
_NATIVE_NAMES = frozenset({"message", "timestamp", "level", "instance", "service", "metadata"})
_ABSENT = object()  # what map_native reads for a name the document does not have


def map_native(
    document: Mapping[str, object],
    *,
    default_kind: str,
    received_ms: int,
    fallback_service: str | None = None,
) -> dict[str, object]:
    """:func:`map_document` for a document already in the contract's names (the syslog parser's).

    Same result, without the alias walk: each name is the column, so only the values are normalized. An
    RFC 3339 time becomes epoch milliseconds here, read once (map_document checks its offset and
    validation then parses it again). A document this does not cover (another name, an empty or
    differently typed value, a time that is not plain RFC 3339) goes through map_document. The event holds
    the document's ``metadata`` object itself: a caller that changes one changes the other.
    """
    # An absent name reads as _ABSENT, not None: a null must fail the tests below and go to map_document,
    # which reads it as absent (so a null service takes the fallback service, as an absent one does).
    message = document.get("message", _ABSENT)
    timestamp = document.get("timestamp", received_ms)
    level = document.get("level", DEFAULT_LEVEL)
    instance = document.get("instance", _ABSENT)
    service = document.get("service", _ABSENT if fallback_service is None else fallback_service)
    metadata = document.get("metadata", _ABSENT)
    if type(timestamp) is str:
        try:
            timestamp = rfc3339_ms(timestamp)
        except FieldError:
            timestamp = None
    if (
        document.keys() <= _NATIVE_NAMES
        and (message is _ABSENT or (type(message) is str and message != ""))
        # Epoch milliseconds as map_document passes them: outside this range validation's message names the
        # unit (a hint only for numbers), so a time given as text keeps the text there.
        and type(timestamp) is int and _SECONDS_BELOW <= timestamp < _MILLIS_BELOW
        and type(level) is str and level != "" and not level.isdecimal()
        and (instance is _ABSENT or (type(instance) is str and instance != ""))
        and (service is _ABSENT or (type(service) is str and service != ""))
        and (metadata is _ABSENT or type(metadata) is dict)
    ):
        event: dict[str, object] = {"kind": default_kind}
        if message is not _ABSENT:
            event["message"] = message
        event["timestamp"] = timestamp
        event["level"] = level
        if instance is not _ABSENT:
            event["instance"] = instance
        if service is not _ABSENT:
            event["service"] = clean_service(service)  # type: ignore[arg-type]
        # The document's own object, not a copy: validation builds a new one from it and changes neither.
        event["metadata"] = {} if metadata is _ABSENT else metadata
        return event
    return map_document(document, default_kind=default_kind, received_ms=received_ms,
                        fallback_service=fallback_service)


# The latest UTC time rfc3339_ms read in full: (its text up to the seconds, their epoch milliseconds). One
# tuple, replaced whole, so threads reading it never see half of an update.
_last_second: tuple[str, int] = ("", 0)


def rfc3339_ms(text: str) -> int:
    """:func:`parse_timestamp` for a string, the same epoch milliseconds or FieldError.

    A sender's times share their second with the one before (a syslog stream writes them in order), so a
    UTC time (``...THH:MM:SS[.fff...]Z``, rsyslog's and syslog-ng's usual form) whose first 19 characters
    equal those of the latest one read in full only has its fraction read: the calendar work was a third of
    the mapping of a syslog message.
    """
    global _last_second
    fraction = text[19:-1]
    # isdigit alone would let other scripts' digits through (int reads them; RFC 3339 does not have them).
    if text[-1:] not in ("Z", "z") or not (
        fraction == "" or (fraction[0] == "." and fraction[1:].isdigit() and fraction.isascii())
    ):
        return parse_timestamp(text)
    millis = int(fraction[1:4].ljust(3, "0")) if fraction else 0  # truncated, as parse_timestamp floors
    second = text[:19]
    seen, base = _last_second
    if second == seen:  # only ever a prefix of a time parse_timestamp accepted, so this one is valid too
        return base + millis
    parsed = parse_timestamp(text)
    _last_second = (second, parsed - millis)
    return parsed


def _shape(kind: str, names: tuple[str, ...]) -> _Shape:
    # Looking names up in any case costs a scan per alias; only documents with an upper-case name need it.
    any_case = not "".join(names).islower()  # one C call; a document with no cased letter at all scans
    # In any case every group is read; otherwise only the groups with a name in the document are.
    present = _ALIAS_NAMES if any_case else _ALIAS_NAMES.intersection(names)
    groups = tuple((n, group) for n, group in enumerate(_GROUPS) if not group.names.isdisjoint(present))
    return _Shape(any_case, groups, None if any_case else _plan(kind, names, groups))


def _plan(kind: str, names: tuple[str, ...], groups: tuple[tuple[int, _Group], ...]) -> _Planned | None:
    """A mapper for documents of these names, or None where only the walk knows (a document with its own
    kind or metadata, or an alias that may be read nested: ``{"log": {"level": ...}}``).

    A shipper sends the same names in every record, so the walk's decisions (which alias fills each group,
    which names are columns) are made once and compiled into one function: a look-up and a type check per
    name and one dict display, about half the walk's time. Only indices are written into its source; the
    names, which come from clients, are values in its namespace.
    """
    if "kind" in names or "metadata" in names:
        return None
    taken: dict[int, int] = {}  # place in _GROUPS -> place in names
    for position, group in groups:
        for alias in group.aliases:
            if alias in names:
                taken[position] = names.index(alias)
                break
            head, dot, _rest = alias.partition(".")
            if dot and head in names:
                return None
        else:
            return None  # only the head of a nested alias is present
    columns = _COLUMNS.get(kind, frozenset())
    namespace: dict[str, object] = {
        "KIND": kind, "DEFAULT_LEVEL": DEFAULT_LEVEL, "LO": _SECONDS_BELOW, "HI": _MILLIS_BELOW,
        "normalize_timestamp": normalize_timestamp, "normalize_level": normalize_level, "clean_service": clean_service,
    }
    code = ["def planned(d, received_ms, fallback_service):"]
    for position, index in taken.items():
        namespace[f"N{index}"], namespace[f"T{position}"] = names[index], _GROUPS[position].exact
        code += [f"    v{position} = d[N{index}]", f'    if type(v{position}) not in T{position} or v{position} == "":',
                 "        return None"]
    # The entries in _fill's order: message, timestamp, level, instance, service, request_id, correlation_id.
    values = {
        0: "v0",
        1: "v1 if type(v1) is int and LO <= v1 < HI else normalize_timestamp(v1)",
        2: "v2 if type(v2) is str and not v2.isdecimal() else normalize_level(v2)",
        3: "v3",
        4: "clean_service(v4)",
        5: "v5 if type(v5) is str else str(v5)",
        6: "v6 if type(v6) is str else str(v6)",
    }
    head = ['"kind": KIND']
    for position, name in enumerate(("message", "timestamp", "level", "instance")):
        if position in taken:
            head.append(f'"{name}": {values[position]}')
        elif name == "timestamp":
            head.append('"timestamp": received_ms')
        elif name == "level":
            head.append('"level": DEFAULT_LEVEL')
    tail = [f'"{name}": {values[position]}' for position, name in ((5, "request_id"), (6, "correlation_id"))
            if position in taken]
    used = set(taken.values())
    rest = [index for index in range(len(names)) if index not in used]
    kept = []
    for index in rest:
        namespace[f"N{index}"] = names[index]
        if names[index] in columns or names[index] == "event_id":
            tail.append(f"N{index}: d[N{index}]")
        else:
            kept.append(f"N{index}: d[N{index}]")
    tail.append('"metadata": {' + ", ".join(kept) + "}")
    if 4 in taken:
        code.append("    return {" + ", ".join([*head, f'"service": {values[4]}', *tail]) + "}")
    else:  # the route's fallback service, when it has one, in the place the walk gives it
        code += ["    event = {" + ", ".join(head) + "}", "    if fallback_service is not None:",
                 '        event["service"] = clean_service(fallback_service)',
                 "    event.update({" + ", ".join(tail) + "})", "    return event"]
    exec("\n".join(code), namespace)  # noqa: S102 - source built from indices and constants only, see above
    return namespace["planned"]  # type: ignore[return-value]


def normalize_timestamp(value: str | int | float) -> str | int | float:
    """Epoch numbers of any common unit -> milliseconds; RFC 3339 strings pass (naive ones as UTC).

    Anything else is returned unchanged for validation to refuse with its own message.
    """
    if type(value) is str:
        if _EPOCH_NUMBER.fullmatch(value):
            value = float(value) if "." in value else int(value)
        else:
            if "T" in value[:11] and _HAS_OFFSET.search(value) is None:
                return value + "Z"
            return value
    # isfinite only for floats: an int past a float's range (Python callers, not JSON) would overflow it.
    if type(value) is bool or (type(value) is float and not math.isfinite(value)):
        return value
    magnitude = abs(value)  # type: ignore[arg-type]
    if magnitude < _SECONDS_BELOW:
        return math.floor(value * 1000)  # type: ignore[operator]
    if magnitude < _MILLIS_BELOW:
        return math.floor(value)  # type: ignore[arg-type]
    if magnitude < _MICROS_BELOW:
        return int(value) // 1000  # type: ignore[call-overload]
    return int(value) // 1_000_000  # type: ignore[call-overload]


def normalize_level(value: str | int) -> str | int:
    """pino's numbers -> names; names pass (validation applies the contract's aliases)."""
    if type(value) is int:
        return PINO_LEVELS.get(value, value)
    if type(value) is str and value.isdecimal():
        return PINO_LEVELS.get(int(value), value)
    return value


def clean_service(name: str) -> str:
    """A service name the contract accepts: characters it does not allow become '_', at most 128."""
    cleaned = _CLEAN_SERVICES.get(name)
    if cleaned is None:
        cleaned = _SERVICE_UNSAFE.sub("_", name)[:128]
        if len(_CLEAN_SERVICES) < _CLEAN_SERVICES_MAX:
            _CLEAN_SERVICES[name] = cleaned
    return cleaned


def _take(doc: dict[str, object], group: _Group, any_case: bool) -> object | None:
    """Remove and return the first alias present with a usable type; nested objects are copied, not changed."""
    types = group.types
    for alias in group.aliases:
        name = alias if alias in doc or not any_case else _any_case(doc, alias)
        value = doc.get(name) if name is not None else None
        if _usable(value, types):
            del doc[name]  # type: ignore[arg-type]
            return value
        head, dot, rest = alias.partition(".")
        if not dot:
            continue
        parent = doc.get(head)
        if type(parent) is not dict:
            continue
        value = parent.get(rest)
        if _usable(value, types):
            remaining = {k: v for k, v in parent.items() if k != rest}
            if remaining:
                doc[head] = remaining
            else:
                del doc[head]
            return value
    return None


def _usable(value: object, types: type | tuple[type, ...]) -> bool:
    # An empty string names nothing (syslog-ng writes PROGRAM "" for a line without one): the next alias may.
    return value is not None and value != "" and isinstance(value, types) and type(value) is not bool


def _any_case(doc: dict[str, object], alias: str) -> str | None:
    for name in doc:
        if len(name) == len(alias) and name.lower() == alias:
            return name
    return None
