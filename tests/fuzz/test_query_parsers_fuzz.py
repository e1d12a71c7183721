"""Every query-string parser of the dashboards: the logs API's parameters, the time range every page keeps in
its URL, the explorer's page cursor, and the explorer's search language.

Any input is a parsed value within the bounds of what it is bound to, or the parser's declared error
(BadParameter naming the parameter, SearchError with a position inside the text, ValueError for a cursor),
never another exception. A parsed search compiles to SQL in which user text never appears: every value
and metadata key is a bound parameter, and what is left of the SQL is column names and fixed syntax.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from dashboards.params import BadParameter, log_query, parse_int
from dashboards.timerange import parse_range
from lookout.contract import TIMESTAMP_MAX_MS, TIMESTAMP_MIN_MS
from tests.fuzz.strategies import syntax_text
from warehouse.queries.explorer import FIELDS, Cursor
from warehouse.queries.logs import LEVELS, MAX_LIMIT
from warehouse.queries.search_language import (
    Match,
    SearchError,
    Text,
    compile_query,
    escape_like,
    leaves,
    parse,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TIMES = st.one_of(
    st.text(max_size=30),
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "now",
                     "now-15m", "now-999999w", "now-1y", "now+1h", "²", "1" * 5000, "2026-11-26T10:00:00z",
                     "2026-11-26", "now-0s"]),
)
NUMBERS = st.one_of(st.text(max_size=8), st.integers().map(str),
                    st.sampled_from(["²", "٣", "1" * 5000, "-0", "+5", " 5", "5.0", "1e3", "0x10"]))


@given(st.dictionaries(st.sampled_from(["level", "limit", "from", "to", "q", "service", "request_id",
                                        "correlation_id", "x"]),
                       st.one_of(TIMES, NUMBERS, st.sampled_from(LEVELS)), max_size=6))
@example({"limit": "²"})  # once 500: str.isdigit accepts it, int() refuses it
@example({"limit": "1" * 5000})  # once 500: int() refuses more than 4300 digits
@example({"from": "0001-01-01T00:00:00+01:00"})  # once 500: leaves the calendar when moved to UTC
@example({"to": "9999-12-31T23:59:59-01:00"})
def test_logs_api_parameters(args: dict[str, str]) -> None:
    try:
        query = log_query(args)
    except BadParameter as exc:
        assert str(exc).split(":")[0] in args
        return
    assert 1 <= query.limit <= MAX_LIMIT
    assert query.level is None or query.level in LEVELS
    # Times outside what ClickHouse holds are its BAD_QUERY_PARAMETER, answered 400 by clickhouse.translated().
    assert all(moment is None or moment.tzinfo is not None for moment in (query.start, query.end))


@given(NUMBERS, st.integers(-(2**64), 2**64), st.integers(-(2**64), 2**64))
def test_integer_parameters(raw: str, low: int, high: int) -> None:
    try:
        value = parse_int("n", raw, low, high)
    except BadParameter as exc:
        assert str(exc).startswith("n:")
        return
    assert low <= value <= high


@given(st.one_of(st.none(), TIMES), st.one_of(st.none(), TIMES))
@example("now-999999w", "now")  # once OverflowError: a relative time before year 1
def test_time_range(raw_from: str | None, raw_to: str | None) -> None:
    try:
        window = parse_range(raw_from, raw_to, NOW)
    except BadParameter as exc:
        assert str(exc).split(":")[0] in ("from", "to")
        return
    assert window.start < window.end and window.start.tzinfo and window.end.tzinfo


@given(st.one_of(st.text(max_size=60), st.binary(max_size=60).map(lambda b: __import__("base64").urlsafe_b64encode(b)
                                                                     .decode()),
                 st.tuples(st.integers(-(10**30), 10**30), st.uuids()).map(
                     lambda t: Cursor(t[0], t[1]).encode())))
@example(Cursor(10**25, __import__("uuid").UUID(int=1)).encode())  # once bound as a DateTime64 out of range
def test_page_cursor(text: str) -> None:
    try:
        cursor = Cursor.decode(text)
    except ValueError:
        return
    assert TIMESTAMP_MIN_MS <= cursor.timestamp_ms < TIMESTAMP_MAX_MS
    assert Cursor.decode(cursor.encode()) == cursor


SYNTAX = ["(", ")", '"', "-", "NOT ", " AND ", " OR ", "*", "\\", ":", ">=", "<=", ">", "<", " ", "service:",
          "level:", "status_code:", "attr.", "attr.order.id:", "message:", "event_id:", "response_time_ms:>",
          "error", "12:30", "9" * 30, "1e400", "-1.5", "true", "%", "_", "'", "{s0:String}", "\x00", "é"]
QUERIES = st.one_of(syntax_text(SYNTAX, max_size=25), st.text(max_size=40))
# What may remain of compiled SQL once its placeholders are taken out: fixed syntax and column names.
_PLACEHOLDER = re.compile(r"\{s\d+:(?:String|Int64|Float64|Bool|UUID)\}")
_FIXED_WORDS = {"AND", "OR", "NOT", "LIKE", "lower", "hasToken", "ifNull", "isNotNull", "toFloat64OrNull", "if",
                "JSONType", "JSONExtractString", "JSONExtractRaw", "JSONHas", "String"}
_FIXED_SQL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|'String'|''|!=|>=|<=|[0-1]|[(),=<> ]")


def _sql_is_fixed(sql: str) -> bool:
    rest = _PLACEHOLDER.sub(" ", sql)
    position = 0
    while position < len(rest):
        token = _FIXED_SQL.match(rest, position)
        if token is None:
            return False
        word = token.group()
        if word[0].isalpha() or word[0] == "_":
            if word not in _FIXED_WORDS and word not in FIELDS.columns and word != "metadata":
                return False
        position = token.end()
    return True


@given(QUERIES)
@example("(" * 5000 + "x" + ")" * 5000)  # once RecursionError: nesting is bounded by the parser
@example("-" * 5000 + "x")
@example("NOT " * 3000 + "x")
@example("response_time_ms:>" + "9" * 5000)  # once ValueError from int(): more digits than Python converts
@example("status_code:1e400")
@example('attr.a\\.b:"x\' OR 1=1 --"')
@example("service:pay* level:error -attr.user.id:* status_code:>=500")
def test_search_language(text: str) -> None:
    try:
        node = parse(text)
        condition = compile_query(node, FIELDS)
    except SearchError as exc:
        assert 0 <= exc.position <= len(text) and exc.message
        return
    assert _sql_is_fixed(condition.sql), condition.sql
    values = {str(value) for value in condition.params.values()}
    for leaf in leaves(node) if node is not None else ():
        literal = leaf.pattern.literal
        if isinstance(leaf, Match) and leaf.field.startswith("attr."):
            assert all(key in values for key in leaf.field[len("attr."):].split("."))
        if literal and isinstance(leaf, Text | Match):
            # The value itself, or its LIKE pattern, UUID or number, is a parameter.
            assert any(escape_like(part) in value or part in value for value in values for part in leaf.pattern.parts
                       if part) or _typed(leaf)


def _typed(leaf: Text | Match) -> bool:
    return isinstance(leaf, Match) and (leaf.pattern.anything or leaf.field in FIELDS.columns)


