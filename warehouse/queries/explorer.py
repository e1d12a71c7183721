"""The log explorer's queries: search pages, histogram, facets, request pivot, context, tail and export.

Building each statement is pure (``build_*``); running it is one call. Every read of a raw table
uses FINAL, so an event delivered twice in differently cut batches (see docs/architecture.md,
"Delivery") is returned and counted once. The query text is compiled by
warehouse/queries/search_language.py into a parameterized condition; times travel as epoch
milliseconds (``fromUnixTimestamp64Milli``), so no time zone or precision is lost on the way.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from clickhouse_connect.driver.client import Client
from psycopg.rows import dict_row

from lookout.contract import TIMESTAMP_MAX_MS, TIMESTAMP_MIN_MS
from warehouse.queries.rollups import LOGS_1M, rolled_up_or_raw
from warehouse.queries.search_language import (
    Fields,
    Node,
    Params,
    attr_value_sql,
    compile_query,
    only_fields,
    parse,
)
from warehouse.tables import TABLES

LOGS = TABLES["log"]
FIELDS = Fields.of(LOGS)
MAX_PAGE = 1000
DEFAULT_COLUMNS = ("service", "instance", "level", "message")
FACETS = ("service", "level", "category", "instance")
# Columns a result may show: every stored field of a log; retention is internal.
COLUMNS = tuple(name for name in LOGS.column_names if name != "retention_days")
_ROLLUP_FIELDS = frozenset(name for name, _ in LOGS_1M.dimensions if name != "retention_days")
# Histogram steps people read easily; the smallest giving at most MAX_BARS bars is chosen.
STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
MAX_BARS = 120
_TIME = "fromUnixTimestamp64Milli({%s:Int64}, 'UTC')"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every explorer read. With FINAL, ClickHouse by default re-reads, in newer parts, the key ranges of
# every granule a skip index kept, in case a newer version of a row sits in a granule the index
# dropped; here that made a request-id lookup ~7x slower (bench/explorer.py). Our copies of an event
# are re-deliveries of the same bytes, so an index keeps or drops all of them alike and the check
# finds nothing. (Only a client re-sending an id with *different* content could then be shown in its
# older version; it is still shown and counted once.)
SETTINGS: dict[str, Any] = {"use_skip_indexes_if_final_exact_mode": 0}


def ms(moment: datetime) -> int:
    """Epoch milliseconds; a naive datetime is taken as UTC (that is how ClickHouse hands them out)."""
    return (utc(moment) - _EPOCH) // timedelta(milliseconds=1)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# ---------------------------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class Search:
    """A parsed query over a time range [start, end): what every explorer view filters on."""

    text: str
    node: Node | None
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str, start: datetime, end: datetime) -> Search:
        """Raises SearchError (syntax, unknown field, bad value: all with a position) or ValueError (range)."""
        if ms(end) <= ms(start):
            raise ValueError("the time range is empty: end must be after start")
        node = parse(text)
        compile_query(node, FIELDS)  # unknown fields and bad values fail here, before any query runs
        return cls(text, node, utc(start), utc(end))

    def where(self, params: dict[str, Any]) -> str:
        """Time range AND the query, its parameters added to ``params``."""
        condition = compile_query(self.node, FIELDS, Params("s", {}))
        params.update(condition.params)
        params["start"], params["end"] = ms(self.start), ms(self.end)
        return f"timestamp >= {_TIME % 'start'} AND timestamp < {_TIME % 'end'} AND {condition.sql}"


def check_columns(columns: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(columns))
    unknown = [c for c in chosen if c not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown column {unknown[0]!r}; columns are: {', '.join(COLUMNS)}")
    return chosen


def _select(columns: Sequence[str]) -> str:
    """timestamp and event_id first (every row is addressable by them), then the chosen columns."""
    return ", ".join(dict.fromkeys(("timestamp", "event_id", *check_columns(columns))))


def _rows(client: Client, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=params, settings=SETTINGS)
    return [_row(result.column_names, values) for values in result.result_rows]


def _row(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(names, values, strict=True))
    for key in ("timestamp", "ingested_at"):
        if isinstance(row.get(key), datetime):
            row[key] = utc(row[key])
    return row


# ---------------------------------------------------------------------------------------------- search pages


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order: (timestamp, event_id) of a row, opaque to clients."""

    timestamp_ms: int
    event_id: uuid.UUID

    @classmethod
    def of(cls, row: dict[str, Any]) -> Cursor:
        return cls(ms(row["timestamp"]), uuid.UUID(str(row["event_id"])))

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.timestamp_ms}/{self.event_id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, _, event_id = raw.partition("/")
            cursor = cls(int(stamp), uuid.UUID(event_id))
        except ValueError:
            raise ValueError(f"not a page cursor: {text[:80]!r}") from None
        # The timestamp is bound as an Int64 time: one no row can have is a bad cursor, not a database error.
        if not TIMESTAMP_MIN_MS <= cursor.timestamp_ms < TIMESTAMP_MAX_MS:
            raise ValueError(f"not a page cursor: {text[:80]!r}")
        return cursor


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]  # newest first
    older: Cursor | None  # where the next older page starts; None when there is none
    newer: Cursor | None  # where a newer page would start (the newest row shown)


def _before(cursor: Cursor, params: dict[str, Any]) -> str:
    """Rows older than ``cursor`` in (timestamp DESC, event_id DESC) order; spelled out so the time bound
    alone still prunes partitions."""
    params["cursor_ts"], params["cursor_id"] = cursor.timestamp_ms, str(cursor.event_id)
    at = _TIME % "cursor_ts"
    return f"timestamp <= {at} AND (timestamp < {at} OR event_id < {{cursor_id:UUID}})"


def _after(cursor: Cursor, params: dict[str, Any]) -> str:
    params["cursor_ts"], params["cursor_id"] = cursor.timestamp_ms, str(cursor.event_id)
    at = _TIME % "cursor_ts"
    return f"timestamp >= {at} AND (timestamp > {at} OR event_id > {{cursor_id:UUID}})"


def build_search(
    search: Search,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    limit: int = 100,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
) -> tuple[str, dict[str, Any]]:
    """One page (plus one row, to know whether more follow), never OFFSET: older pages read below the
    cursor newest-first, newer pages read above it oldest-first (the caller turns them around)."""
    if older_than and newer_than:
        raise ValueError("a page is either older or newer than a cursor, not both")
    return _page_sql(search, columns, max(1, min(limit, MAX_PAGE)) + 1, older_than, newer_than)


def _page_sql(
    search: Search, columns: Sequence[str], rows: int, older_than: Cursor | None, newer_than: Cursor | None = None
) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"limit": rows}
    where = [search.where(params)]
    order = "DESC"
    if older_than:
        where.append(_before(older_than, params))
    elif newer_than:
        where.append(_after(newer_than, params))
        order = "ASC"
    sql = (
        f"SELECT {_select(columns)} FROM logs FINAL WHERE {' AND '.join(where)} "
        f"ORDER BY timestamp {order}, event_id {order} LIMIT {{limit:UInt32}}"
    )
    return sql, params


def search_page(
    client: Client,
    search: Search,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    limit: int = 100,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
) -> Page:
    sql, params = build_search(search, columns, limit, older_than, newer_than)
    rows = _rows(client, sql, params)
    size = params["limit"] - 1
    more = len(rows) > size
    rows = rows[:size]
    if newer_than:
        rows.reverse()
        older = Cursor.of(rows[-1]) if rows else newer_than
    else:
        older = Cursor.of(rows[-1]) if rows and more else None
    return Page(rows, older, Cursor.of(rows[0]) if rows else newer_than)


# ---------------------------------------------------------------------------------------------- histogram


def step_for(start: datetime, end: datetime) -> int:
    """Seconds per bar: the smallest readable step giving at most MAX_BARS bars (60-120 for most ranges)."""
    span = (ms(end) - ms(start)) / 1000
    for step in STEPS_S:
        if math.ceil(span / step) <= MAX_BARS:
            return step
    return math.ceil(span / MAX_BARS / 86400) * 86400


@dataclass(frozen=True)
class Bar:
    start: datetime
    counts: dict[str, int]  # level -> events

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Histogram:
    step_s: int
    bars: list[Bar]
    from_rollups: bool  # whole minutes came from logs_1m (exact either way)

    @property
    def total(self) -> int:
        return sum(bar.total for bar in self.bars)


def _minute_ceil(moment_ms: int) -> int:
    return -(-moment_ms // 60_000) * 60_000


def build_histogram(search: Search, step_s: int | None = None) -> tuple[str, dict[str, Any], bool]:
    """(SQL, parameters, whether it reads the rollups). Rows: (bucket epoch seconds, level, events).

    The rollups answer the whole minutes of the range when the query filters only on their
    dimensions and bars are whole minutes; the partial minutes at either end, and minutes not
    rolled up yet, come from the raw table, so the counts are exact either way."""
    step = step_s or step_for(search.start, search.end)
    if (ms(search.end) - ms(search.start)) / 1000 / step > 10 * MAX_BARS:
        raise ValueError(f"{step} s bars would be too many for this range; at most {10 * MAX_BARS}")
    params: dict[str, Any] = {"step": step}
    bucket = "intDiv(toUnixTimestamp({t}), {{step:UInt32}}) * {{step:UInt32}}"
    first, last = _minute_ceil(ms(search.start)), ms(search.end) // 60_000 * 60_000
    if step % 60 or first >= last or not only_fields(search.node, _ROLLUP_FIELDS):
        sql = (
            f"SELECT {bucket.format(t='timestamp')} AS bucket, level, count() AS events FROM logs FINAL "
            f"WHERE {search.where(params)} GROUP BY bucket, level ORDER BY bucket, level"
        )
        return sql, params, False
    condition = compile_query(search.node, FIELDS, Params("s", {}))
    params.update(condition.params)
    params["start"], params["end"], params["first"], params["last"] = ms(search.start), ms(search.end), first, last
    whole_rollup = f"minute >= {_TIME % 'first'} AND minute < {_TIME % 'last'} AND {condition.sql}"
    whole_raw = f"timestamp >= {_TIME % 'first'} AND timestamp < {_TIME % 'last'} AND {condition.sql}"
    edges = (
        f"((timestamp >= {_TIME % 'start'} AND timestamp < {_TIME % 'first'}) "
        f"OR (timestamp >= {_TIME % 'last'} AND timestamp < {_TIME % 'end'})) AND {condition.sql}"
    )
    sql = (
        "SELECT bucket, level, sum(n) AS events FROM ("
        f"SELECT {bucket.format(t='minute')} AS bucket, level, events AS n "
        f"FROM ({rolled_up_or_raw(LOGS_1M, whole_rollup, whole_raw)}) "
        f"UNION ALL SELECT {bucket.format(t='timestamp')} AS bucket, level, count() AS n FROM logs FINAL "
        f"WHERE {edges} GROUP BY bucket, level"
        ") GROUP BY bucket, level ORDER BY bucket, level"
    )
    return sql, params, True


def bars(rows: Iterable[tuple[int, str, int]], start: datetime, end: datetime, step_s: int) -> list[Bar]:
    """Every bar of the range, empty ones included, from (bucket epoch seconds, level, events) rows."""
    counts: dict[int, dict[str, int]] = {}
    for bucket, level, events in rows:
        levels = counts.setdefault(int(bucket), {})
        levels[level] = levels.get(level, 0) + int(events)
    first = ms(start) // 1000 // step_s * step_s
    return [
        Bar(datetime.fromtimestamp(b, UTC), counts.get(b, {})) for b in range(first, math.ceil(ms(end) / 1000), step_s)
    ]


def histogram(client: Client, search: Search, step_s: int | None = None) -> Histogram:
    sql, params, from_rollups = build_histogram(search, step_s)
    rows = client.query(sql, parameters=params, settings=SETTINGS).result_rows
    return Histogram(params["step"], bars(rows, search.start, search.end, params["step"]), from_rollups)


# ---------------------------------------------------------------------------------------------- facets


def build_facets(
    search: Search, fields: Sequence[str] = FACETS, top: int = 10
) -> tuple[str, dict[str, Any], list[str]]:
    """(SQL, parameters, facet names): the top values of every facet in one pass over the matching rows.

    Rows: (index into the names, value, events). A facet is a column or an ``attr.`` key; the SQL
    names it by its index, so a user's key never reaches the statement. GROUPING SETS aggregates
    each facet on its own in the same scan (here ~2x faster than ARRAY JOIN of (facet, value) pairs)."""
    names = list(dict.fromkeys(fields))
    if not names:
        raise ValueError("facets: name at least one field")
    params: dict[str, Any] = {"top": max(1, min(top, 100))}
    keys = Params("k", {})
    sets = []
    for index, name in enumerate(names):
        FIELDS.check(name)
        attr = FIELDS.attr_keys(name)
        expression = f"toString({name})" if attr is None or name in FIELDS.columns else attr_value_sql(attr, keys)
        sets.append(f"({expression} AS f{index})")
    where = search.where(params)
    params.update(keys.values)
    last = len(names) - 1
    # GROUPING(f) is 0 in the rows of the set that groups by f.
    facet = "multiIf(" + "".join(f"GROUPING(f{i}) = 0, {i}, " for i in range(last)) + f"{last})" if last else "0"
    value = "multiIf(" + "".join(f"facet = {i}, f{i}, " for i in range(last)) + f"f{last})" if last else "f0"
    sql = (
        f"SELECT {facet} AS facet, {value} AS value, count() AS events FROM logs FINAL WHERE {where} "
        f"GROUP BY GROUPING SETS ({', '.join(sets)}) "
        "ORDER BY facet, events DESC, value LIMIT {top:UInt32} BY facet"
    )
    return sql, params, names


def facets(
    client: Client, search: Search, fields: Sequence[str] = FACETS, top: int = 10
) -> dict[str, list[tuple[str, int]]]:
    """Facet -> its top (value, events), most frequent first, under the current query."""
    sql, params, names = build_facets(search, fields, top)
    out: dict[str, list[tuple[str, int]]] = {name: [] for name in names}
    for index, value, events in client.query(sql, parameters=params, settings=SETTINGS).result_rows:
        out[names[index]].append((value, int(events)))
    return out


# ---------------------------------------------------------------------------------------------- request pivot


@dataclass(frozen=True)
class TimelineEvent:
    kind: str
    timestamp: datetime
    event_id: str
    service: str
    instance: str
    summary: str
    fields: dict[str, Any] = field(compare=False)


def summary(kind: str, fields: dict[str, Any]) -> str:
    """One line for the timeline."""
    match kind:
        case "log":
            return f"{fields.get('level', '')}: {fields.get('message', '')}"
        case "api_metric":
            return (
                f"{fields.get('method', '')} {fields.get('endpoint', '')} -> {fields.get('status_code', '')} "
                f"in {fields.get('response_time_ms', '')} ms"
            )
        case "security_event":
            return f"{fields.get('severity', '')} {fields.get('event_type', '')}"
        case "admin_audit":
            return f"{fields.get('action', '')} {fields.get('resource_type', '')} {fields.get('resource_id', '')}"
    return kind


def _timeline_event(kind: str, row: dict[str, Any]) -> TimelineEvent:
    return TimelineEvent(
        kind,
        utc(row["timestamp"]),
        str(row["event_id"]),
        row["service"],
        row.get("instance") or "",
        summary(kind, row),
        row,
    )


# Logs carry the ids in columns (each with a bloom filter index); the other kinds in their metadata.
_METADATA_IDS = ("request_id", "correlation_id")


def build_pivot_clickhouse(request_id: str, start: datetime, end: datetime, limit: int) -> list[tuple[str, str, dict]]:
    """(kind, SQL, parameters) per ClickHouse table. The two log columns are read in two SELECTs:
    a skip index prunes granules only for a condition of its own, not for an OR of two indexes."""
    params: dict[str, Any] = {"id": request_id, "start": ms(start), "end": ms(end), "limit": limit}
    span = f"timestamp >= {_TIME % 'start'} AND timestamp < {_TIME % 'end'}"
    logs = (
        f"SELECT * EXCEPT (retention_days, ingested_at) FROM logs FINAL WHERE {span} AND request_id = {{id:String}} "
        f"UNION ALL SELECT * EXCEPT (retention_days, ingested_at) FROM logs FINAL WHERE {span} "
        "AND correlation_id = {id:String} AND request_id != {id:String} "
        "ORDER BY timestamp, event_id LIMIT {limit:UInt32}"
    )
    # position() is a cheap pre-filter before the JSON is parsed.
    in_metadata = " OR ".join(f"JSONExtractString(metadata, '{key}') = {{id:String}}" for key in _METADATA_IDS)
    metrics = (
        f"SELECT * EXCEPT (retention_days, ingested_at) FROM api_metrics FINAL WHERE {span} "
        f"AND position(metadata, {{id:String}}) > 0 AND ({in_metadata}) "
        "ORDER BY timestamp, event_id LIMIT {limit:UInt32}"
    )
    return [("log", logs, params), ("api_metric", metrics, params)]


def pivot_clickhouse(
    client: Client, request_id: str, start: datetime, end: datetime, limit: int = MAX_PAGE
) -> list[TimelineEvent]:
    """Logs and API metrics carrying ``request_id`` as their request or correlation id."""
    events = []
    for kind, sql, params in build_pivot_clickhouse(request_id, start, end, limit):
        events.extend(_timeline_event(kind, row) for row in _rows(client, sql, params))
    return events


_PG_PIVOT = (
    "SELECT * FROM ("
    "SELECT 'security_event' AS kind, to_jsonb(s) AS row FROM security_events s "
    "WHERE timestamp >= %(start)s AND timestamp < %(end)s "
    "AND (metadata->>'request_id' = %(id)s OR metadata->>'correlation_id' = %(id)s) "
    "UNION ALL SELECT 'admin_audit' AS kind, to_jsonb(a) AS row FROM admin_audit_logs a "
    "WHERE timestamp >= %(start)s AND timestamp < %(end)s "
    "AND (metadata->>'request_id' = %(id)s OR metadata->>'correlation_id' = %(id)s)"
    ") found ORDER BY row->>'timestamp' LIMIT %(limit)s"
)


def pivot_postgres(
    conn: psycopg.Connection, request_id: str, start: datetime, end: datetime, limit: int = MAX_PAGE
) -> list[TimelineEvent]:
    """Security events and audit records carrying ``request_id`` in their metadata."""
    params = {"id": request_id, "start": utc(start), "end": utc(end), "limit": limit}
    with conn.cursor(row_factory=dict_row) as cursor:
        found = cursor.execute(_PG_PIVOT, params).fetchall()
    events = []
    for item in found:
        row = dict(item["row"])
        row.pop("ingested_at", None)
        row["timestamp"] = datetime.fromisoformat(row["timestamp"])
        events.append(_timeline_event(item["kind"], row))
    return events


def merge_timeline(*groups: Iterable[TimelineEvent]) -> list[TimelineEvent]:
    """One timeline, oldest first; an event found twice (same kind and id) appears once."""
    unique = {(e.kind, e.event_id): e for group in groups for e in group}
    return sorted(unique.values(), key=lambda e: (e.timestamp, e.kind, e.event_id))


# ---------------------------------------------------------------------------------------------- context


@dataclass(frozen=True)
class Context:
    before: list[dict[str, Any]]  # oldest first
    event: dict[str, Any]
    after: list[dict[str, Any]]  # oldest first


def build_context(anchor: Cursor, columns: Sequence[str], n: int, within: timedelta) -> tuple[str, str, dict[str, Any]]:
    """(SQL of the rows before the anchor, of the rows after it, parameters): the same service and
    instance as the anchor row, at most ``within`` away (which bounds the partitions read)."""
    params: dict[str, Any] = {
        "n": max(1, min(n, MAX_PAGE)),
        "n_and_anchor": max(1, min(n, MAX_PAGE)) + 1,
        "lo": anchor.timestamp_ms - int(within.total_seconds() * 1000),
        "hi": anchor.timestamp_ms + int(within.total_seconds() * 1000) + 1,
    }
    same = (
        f"(service, instance) IN (SELECT service, instance FROM logs FINAL WHERE timestamp = {_TIME % 'cursor_ts'} "
        "AND event_id = {cursor_id:UUID}) "
        f"AND timestamp >= {_TIME % 'lo'} AND timestamp < {_TIME % 'hi'}"
    )
    select = f"SELECT {_select(columns)} FROM logs FINAL WHERE {same}"
    before = f"{select} AND {_before(anchor, params)} ORDER BY timestamp DESC, event_id DESC LIMIT {{n:UInt32}}"
    after = (
        f"{select} AND ((timestamp = {_TIME % 'cursor_ts'} AND event_id = {{cursor_id:UUID}}) "
        f"OR {_after(anchor, params)}) ORDER BY timestamp, event_id LIMIT {{n_and_anchor:UInt32}}"
    )
    return before, after, params


def context(
    client: Client,
    anchor: Cursor,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    n: int = 10,
    within: timedelta = timedelta(days=1),
) -> Context | None:
    """The ``n`` events before and after the anchor from its service and instance; None if it does not exist."""
    before_sql, after_sql, params = build_context(anchor, columns, n, within)
    after = _rows(client, after_sql, params)
    if not after or Cursor.of(after[0]) != anchor:
        return None
    before = _rows(client, before_sql, params)
    before.reverse()
    return Context(before, after[0], after[1:])


# ---------------------------------------------------------------------------------------------- tail


@dataclass(frozen=True)
class TailCursor:
    """How far a tail has read, in order of arrival (ingested_at), not of event time: an event stamped
    late by its sender still shows up. Inserts become visible in an order that can differ from their
    ingested_at by up to ``overlap``, so each read looks back that far and skips the ids it already
    returned (``seen``: (event_id, ingested_at ms) within the overlap)."""

    since_ms: int
    seen: tuple[tuple[str, int], ...] = ()


TAIL_OVERLAP_MS = 10_000
TAIL_START_LOOKBACK_MS = 15 * 60_000  # the first read shows the newest arrivals of the last 15 minutes
# Events stamped more than this before they arrive are not tailed (a search finds them). The bound on
# event time lets the sorting key skip older granules: polling with a day's bound instead of an hour's
# cost ~5x more here (bench/explorer.py data), and a tail polls every second or so.
TAIL_MAX_LATENESS_MS = 3_600_000
TAIL_MAX_PASSED_OVER = 5000  # beyond this, a burst at the start of a tail may show up in its second read


def advance(
    cursor: TailCursor | None, rows: Sequence[dict[str, Any]], overlap_ms: int = TAIL_OVERLAP_MS
) -> TailCursor | None:
    """The cursor after ``rows`` (returned by a tail read) have been delivered."""
    stamps = [(str(row["event_id"]), ms(row["ingested_at"])) for row in rows]
    if cursor is not None:
        stamps.extend(cursor.seen)
    if not stamps:
        return cursor
    since = max(stamp for _, stamp in stamps)
    if cursor is not None:
        since = max(since, cursor.since_ms)
    return TailCursor(since, tuple(sorted({s for s in stamps if s[1] >= since - overlap_ms})))


def build_tail(
    node: Node | None, cursor: TailCursor | None, columns: Sequence[str], limit: int
) -> tuple[str, dict[str, Any]]:
    """Matching events that arrived after the cursor, in arrival order; the first read (no cursor) takes
    the newest ``limit`` arrivals of the last TAIL_START_LOOKBACK_MS, still returned oldest first."""
    condition = compile_query(node, FIELDS, Params("s", {}))
    params: dict[str, Any] = {**condition.params, "limit": max(1, min(limit, MAX_PAGE)) + 1}
    select = f"SELECT {_select(columns)}, ingested_at FROM logs FINAL"
    if cursor is None:
        params["lookback"], params["lateness"] = TAIL_START_LOOKBACK_MS, TAIL_MAX_LATENESS_MS
        where = (
            "ingested_at >= now64(3) - toIntervalMillisecond({lookback:UInt64}) "
            "AND timestamp >= now64(3) - toIntervalMillisecond({lookback:UInt64} + {lateness:UInt64})"
        )
        newest = (
            f"{select} WHERE {where} AND {condition.sql} "
            "ORDER BY ingested_at DESC, timestamp DESC, event_id DESC LIMIT {limit:UInt32}"
        )
        return f"SELECT * FROM ({newest}) ORDER BY ingested_at, timestamp, event_id", params
    params["from"], params["oldest"] = cursor.since_ms - TAIL_OVERLAP_MS, cursor.since_ms - TAIL_MAX_LATENESS_MS
    params["seen"] = [event_id for event_id, _ in cursor.seen]
    where = (
        f"ingested_at >= {_TIME % 'from'} AND timestamp >= {_TIME % 'oldest'} "
        "AND NOT has({seen:Array(UUID)}, event_id)"
    )
    return (
        f"{select} WHERE {where} AND {condition.sql} ORDER BY ingested_at, timestamp, event_id LIMIT {{limit:UInt32}}",
        params,
    )


@dataclass(frozen=True)
class TailRead:
    rows: list[dict[str, Any]]  # oldest first
    cursor: TailCursor | None  # pass it to the next read
    behind: bool  # more matching events are waiting than ``limit``: the caller may start over (cursor None)


def build_tail_passed_over(node: Node | None, start: TailCursor) -> tuple[str, dict[str, Any]]:
    """(event_id, ingested_at) of the matching events a fresh tail did not show although they arrived
    within the overlap before its newest row: marked as seen, so the next read does not bring them back."""
    condition = compile_query(node, FIELDS, Params("s", {}))
    params: dict[str, Any] = {
        **condition.params,
        "from": start.since_ms - TAIL_OVERLAP_MS,
        "until": start.since_ms,
        "oldest": start.since_ms - TAIL_OVERLAP_MS - TAIL_MAX_LATENESS_MS,
        "seen": [event_id for event_id, _ in start.seen],
        "cap": TAIL_MAX_PASSED_OVER,
    }
    sql = (
        f"SELECT event_id, ingested_at FROM logs FINAL WHERE ingested_at >= {_TIME % 'from'} "
        f"AND ingested_at <= {_TIME % 'until'} AND timestamp >= {_TIME % 'oldest'} "
        f"AND NOT has({{seen:Array(UUID)}}, event_id) AND {condition.sql} LIMIT {{cap:UInt32}}"
    )
    return sql, params


def tail(
    client: Client,
    node: Node | None,
    cursor: TailCursor | None = None,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    limit: int = 100,
) -> TailRead:
    """New matching events since ``cursor``, oldest first, at most ``limit``; without a cursor, the newest.

    A tail that falls behind (``behind``) keeps its place until the caller restarts it (cursor None),
    which also keeps ``seen`` as small as what arrived in the last TAIL_OVERLAP_MS."""
    sql, params = build_tail(node, cursor, columns, limit)
    rows = _rows(client, sql, params)
    size = params["limit"] - 1
    if cursor is not None:
        behind = len(rows) > size
        rows = rows[:size]
        return TailRead(rows, advance(cursor, rows), behind)
    rows = rows[-size:]
    start = advance(None, rows)
    if start is not None:
        start = advance(start, _rows(client, *build_tail_passed_over(node, start)))
    return TailRead(rows, start, False)


# ---------------------------------------------------------------------------------------------- export


# Rows per export page: memory stays at one page (~7 MB of Python rows when messages are long); larger pages
# are no faster here, the time going to building rows in Python (bench: 100,000 rows in ~16 s either way).
EXPORT_CHUNK = 2000


def export_rows(
    client: Client, search: Search, columns: Sequence[str] = COLUMNS, limit: int = 100_000, chunk: int = EXPORT_CHUNK
) -> Iterator[dict[str, Any]]:
    """Every matching row, newest first, at most ``limit``, read in keyset pages of ``chunk`` rows.

    Pages rather than one streamed result: memory stays at one page however large the export, and
    no query stays open while a slow client downloads (the embedded engine runs one query at a
    time for the whole process, so an open stream would hold up the pipeline's inserts)."""
    left, older_than = max(0, limit), None
    while left > 0:
        sql, params = _page_sql(search, columns, min(chunk, left), older_than)
        rows = _rows(client, sql, params)
        yield from rows
        left -= len(rows)
        if len(rows) < params["limit"]:
            return
        older_than = Cursor.of(rows[-1])


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value  # a spreadsheet would run it as a formula (CSV injection)
    return value


def encode_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, one chunk per row after the header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_value(row.get(c)) for c in columns])
        yield buffer.getvalue()


def encode_ndjson(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """One JSON object per line; times in ISO 8601 UTC, ids as strings."""
    for row in rows:
        yield orjson.dumps(row, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_APPEND_NEWLINE)
