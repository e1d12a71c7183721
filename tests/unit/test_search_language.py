"""The explorer's search language (parse + compile) and the pure parts of its queries; no servers.

What the compiled SQL finds in a real ClickHouse is tested in tests/integration/test_explorer_queries.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from warehouse.queries import explorer
from warehouse.queries.explorer import Cursor, Search, TailCursor, TimelineEvent
from warehouse.queries.search_language import (
    And,
    FieldKind,
    Fields,
    Match,
    Not,
    Op,
    Or,
    Pattern,
    SearchError,
    SearchSyntaxError,
    Text,
    UnknownFieldError,
    compile_query,
    like_pattern,
    only_fields,
    parse,
)
from warehouse.tables import TABLES, ColumnType

LOG_FIELDS = Fields.of(TABLES["log"])


def word(text: str, position: int) -> Text:
    return Text(Pattern((text,)), False, position)


def sql_of(query: str) -> tuple[str, dict]:
    condition = compile_query(parse(query), LOG_FIELDS)
    return condition.sql, condition.params


# ---------------------------------------------------------------------------------------------- parsing


def test_a_blank_query_matches_everything():
    assert parse("") is None and parse("   \t ") is None
    assert compile_query(None, LOG_FIELDS).sql == "1"


def test_words_and_phrases():
    assert parse("declined") == word("declined", 0)
    assert parse('"card declined"') == Text(Pattern(("card declined",)), True, 0)
    assert parse('pay "card declined"') == And((word("pay", 0), Text(Pattern(("card declined",)), True, 4)))


def test_field_values_plain_quoted_and_negated():
    assert parse("service:payments") == Match("service", Op.EQ, Pattern(("payments",)), 0)
    assert parse('service:"pay ments"') == Match("service", Op.EQ, Pattern(("pay ments",)), 0, quoted=True)
    assert parse("-level:debug") == Not(Match("level", Op.EQ, Pattern(("debug",)), 1))
    assert parse("NOT level:debug") == Not(Match("level", Op.EQ, Pattern(("debug",)), 4))


@pytest.mark.parametrize("op", [Op.GT, Op.GE, Op.LT, Op.LE])
def test_comparisons(op):
    assert parse(f"status_code:{op.value}500") == Match("status_code", op, Pattern(("500",)), 0)


def test_wildcards_split_the_value_and_escaped_stars_are_literal():
    assert parse("service:pay*") == Match("service", Op.EQ, Pattern(("pay", "")), 0)
    assert parse("service:*pay*ments") == Match("service", Op.EQ, Pattern(("", "pay", "ments")), 0)
    assert parse(r"service:pay\*") == Match("service", Op.EQ, Pattern(("pay*",)), 0)
    assert parse('service:"pay*"').pattern == Pattern(("pay*",))  # quotes make everything literal
    assert parse("attr.user:*").pattern.anything


def test_attr_keys_may_be_nested():
    node = parse("attr.order.id:42")
    assert node == Match("attr.order.id", Op.EQ, Pattern(("42",)), 0)
    assert LOG_FIELDS.attr_keys(node.field) == ("order", "id")


def test_implicit_and_explicit_and_are_the_same():
    assert parse("a b") == And((word("a", 0), word("b", 2)))
    assert parse("a AND b") == And((word("a", 0), word("b", 6)))
    assert parse("a\u00a0b\tc") == And((word("a", 0), word("b", 2), word("c", 4)))  # any whitespace separates


def test_or_binds_looser_than_and():
    assert parse("a OR b c") == Or((word("a", 0), And((word("b", 5), word("c", 7)))))
    assert parse("a b OR c") == Or((And((word("a", 0), word("b", 2))), word("c", 7)))


def test_not_binds_tighter_than_and():
    assert parse("NOT a b") == And((Not(word("a", 4)), word("b", 6)))
    assert parse("-a OR b") == Or((Not(word("a", 1)), word("b", 6)))
    assert parse("NOT NOT a") == Not(Not(word("a", 8)))


def test_parentheses_group():
    assert parse("(a OR b) c") == And((Or((word("a", 1), word("b", 6))), word("c", 9)))
    assert parse("-(a OR b)") == Not(Or((word("a", 2), word("b", 7))))
    assert parse("((a))") == word("a", 2)


def test_keywords_only_in_capitals():
    assert parse("a or b") == And((word("a", 0), word("or", 2), word("b", 5)))
    assert parse('"OR"') == Text(Pattern(("OR",)), True, 0)


def test_escaping_quotes_and_backslashes():
    assert parse(r'"say \"hi\" now"').pattern == Pattern(('say "hi" now',))
    assert parse(r'"C:\\temp\\"').pattern == Pattern(("C:\\temp\\",))
    assert parse(r"a\ b").pattern == Pattern(("a b",))  # an escaped space does not end the word
    assert parse(r"\(x\)").pattern == Pattern(("(x)",))
    assert parse(r'service:"a\"b"').pattern == Pattern(('a"b',))


def test_colons_not_after_a_field_name_are_text():
    assert parse("12:30:01") == word("12:30:01", 0)
    assert parse(r"http\://host") == word("http://host", 0)


def test_hyphens_inside_words_are_text():
    assert parse("card-declined") == word("card-declined", 0)


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ('"unterminated', 13, "closing '\"'"),
        ("(a OR b", 7, "')' to close the '(' at position 0"),
        ("a)", 1, "OR, AND, a term or the end"),
        ("a OR", 4, "a search term"),
        ("AND a", 0, "a search term"),
        ("a AND OR b", 6, "a search term"),
        ("()", 1, "a search term"),
        ("a - b", 3, "a term after '-'"),
        ("service: x", 8, "a value after 'service:'"),
        ("service:", 8, "a value after 'service:'"),
        ("service:(a)", 8, "a value after 'service:'"),
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(query, position, expected):
    with pytest.raises(SearchSyntaxError) as caught:
        parse(query)
    assert caught.value.position == position
    assert expected in caught.value.expected
    assert caught.value.as_dict() == {"error": caught.value.message, "position": position}


def test_unknown_field_is_named_with_the_valid_ones():
    with pytest.raises(UnknownFieldError) as caught:
        sql_of("level:error sevrice:payments")
    error = caught.value
    assert error.field == "sevrice" and error.position == 12
    assert "'sevrice'" in error.message
    assert {"service", "level", "category", "instance", "request_id", "correlation_id", "attr.<key>"} <= set(
        error.valid
    )
    assert "timestamp" not in error.valid and "retention_days" not in error.valid


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("service:>5", "> compares numbers; service (text) is not numeric"),
        ("message:>5", "compares numbers; the message is not numeric"),
        ("status_code:5*", "wildcards apply to text; status_code is numeric"),
        ("status_code:abc", "status_code: needs a number, not 'abc'"),
        ("status_code:>=1e", "needs a number"),
        ("attr.amount:>ten", "attr.amount> needs a number, not 'ten'"),
        ("event_id:nope", "event_id takes a UUID, not 'nope'"),
    ],
)
def test_values_a_field_cannot_take_are_refused_with_a_position(query, message):
    with pytest.raises(SearchError) as caught:
        sql_of(f"x {query}")
    assert message in caught.value.message
    assert caught.value.position == 2


def test_boolean_fields_take_true_or_false():
    fields = Fields.of(TABLES["api_metric"])
    assert fields.columns["cache_hit"].kind is FieldKind.BOOL
    condition = compile_query(parse("cache_hit:TRUE"), fields)
    assert condition.sql == "cache_hit = {s0:Bool}" and condition.params == {"s0": True}
    with pytest.raises(SearchError, match="true or false"):
        compile_query(parse("cache_hit:yes"), fields)


# ---------------------------------------------------------------------------------------------- SQL


def test_fields_come_from_the_table_map():
    for table in TABLES.values():
        fields = Fields.of(table)
        times = {c.name for c in table.columns if c.type in (ColumnType.TIMESTAMP, ColumnType.NULLABLE_TIMESTAMP)}
        assert set(fields.columns) == set(table.column_names) - times - {"retention_days"}
    assert LOG_FIELDS.columns["status_code"].nullable and LOG_FIELDS.columns["message"].kind is FieldKind.MESSAGE


def test_a_bare_word_uses_the_token_index_and_anything_else_the_ngram_index():
    assert sql_of("Declined") == ("hasToken(lower(message), lower({s0:String}))", {"s0": "Declined"})
    assert sql_of('"card declined"') == ("lower(message) LIKE lower({s0:String})", {"s0": "%card declined%"})
    assert sql_of("card-declined")[1] == {"s0": "%card-declined%"}
    assert sql_of("declin*") == ("lower(message) LIKE lower({s0:String})", {"s0": "%declin%"})
    assert sql_of("message:Declined") == sql_of("Declined")
    assert sql_of('message:"a b"') == sql_of('"a b"')


def test_like_patterns_escape_their_metacharacters():
    assert like_pattern(Pattern(("50%_off\\",)), anchored=False) == "%50\\%\\_off\\\\%"
    assert like_pattern(Pattern(("pay", "")), anchored=True) == "pay%"
    assert sql_of("service:pay_*") == ("service LIKE {s0:String}", {"s0": "pay\\_%"})


def test_field_conditions():
    assert sql_of("service:payments") == ("service = {s0:String}", {"s0": "payments"})
    assert sql_of("service:*") == ("service != ''", {})
    assert sql_of("status_code:>=500") == ("ifNull(status_code >= {s0:Int64}, 0)", {"s0": 500})
    assert sql_of("response_time_ms:<2.5") == ("ifNull(response_time_ms < {s0:Float64}, 0)", {"s0": 2.5})
    assert sql_of("status_code:*") == ("isNotNull(status_code)", {})
    event_id = uuid.uuid4()
    assert sql_of(f"event_id:{event_id}") == ("event_id = {s0:UUID}", {"s0": str(event_id)})


def test_metadata_keys_and_values_are_parameters():
    sql, params = sql_of("attr.order.id:42")
    assert params == {"s0": "order", "s1": "id", "s2": "42"}
    assert sql == (
        "if(JSONType(metadata, {s0:String}, {s1:String}) = 'String', JSONExtractString(metadata, {s0:String}, "
        "{s1:String}), JSONExtractRaw(metadata, {s0:String}, {s1:String})) = {s2:String}"
    )
    sql, params = sql_of("attr.amount:>10")
    assert sql.startswith("ifNull(toFloat64OrNull(if(JSONType(metadata, {s0:String})") and params["s1"] == 10
    assert sql_of("attr.user:*") == ("JSONHas(metadata, {s0:String})", {"s0": "user"})


def test_boolean_structure_is_parenthesised():
    sql, _ = sql_of("a OR b -c")
    assert sql == (
        "(hasToken(lower(message), lower({s0:String})) OR (hasToken(lower(message), lower({s1:String})) "
        "AND NOT (hasToken(lower(message), lower({s2:String})))))"
    )


INJECTIONS = [
    "'; DROP TABLE logs; --",
    "x' OR '1'='1",
    "\\'; SELECT 1; --",
    "{s0:String}",
    "a) OR (1=1",
    "`logs`",
    "${jndi:ldap://x}",
    "\x00\n\r",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_user_text_only_ever_travels_as_a_parameter(text):
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    for shape in ('"{}"', 'service:"{}"', 'attr.k:"{}"', '-message:"{}"', 'instance:"{}" OR category:"{}"'):
        condition = compile_query(parse(shape.format(escaped, escaped)), LOG_FIELDS)
        harmless = compile_query(parse(shape.format("harmless", "harmless")), LOG_FIELDS)
        assert condition.sql == harmless.sql  # the statement does not depend on the text
        assert any(text.replace("%", "") in value.replace("\\\\", "\\") for value in condition.params.values())


def test_only_fields_tells_whether_a_rollup_can_answer():
    allowed = frozenset({"service", "level"})
    assert only_fields(None, allowed)
    assert only_fields(parse("service:a (level:error OR -level:warn)"), allowed)
    assert not only_fields(parse("service:a word"), allowed)
    assert not only_fields(parse("service:a instance:b"), allowed)


# ---------------------------------------------------------------------------------------------- explorer (pure parts)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_search_checks_fields_and_range_before_anything_runs():
    with pytest.raises(UnknownFieldError):
        Search.parse("nope:1", T0, T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="end must be after start"):
        Search.parse("", T0, T0)
    params: dict = {}
    where = Search.parse("service:a", T0, T0 + timedelta(hours=1)).where(params)
    assert where.startswith("timestamp >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')")
    assert params == {"s0": "a", "start": 1796040000000, "end": 1796043600000}


def test_cursors_round_trip_and_refuse_garbage():
    cursor = Cursor(1796040000123, uuid.uuid4())
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.of({"timestamp": datetime(2026, 11, 30, 12, 0, 0, 123000), "event_id": cursor.event_id}) == cursor
    for garbage in ("", "abc", "!!!", Cursor(1, uuid.uuid4()).encode()[:-3]):
        with pytest.raises(ValueError, match="not a page cursor"):
            Cursor.decode(garbage)


def test_pages_use_keyset_conditions_never_offset():
    search = Search.parse("level:error", T0, T0 + timedelta(hours=1))
    cursor = Cursor(1796040000123, uuid.uuid4())
    first, params = explorer.build_search(search, ["message"], limit=50)
    assert "ORDER BY timestamp DESC, event_id DESC" in first and params["limit"] == 51
    older, params = explorer.build_search(search, ["message"], limit=50, older_than=cursor)
    assert "(timestamp < fromUnixTimestamp64Milli({cursor_ts:Int64}, 'UTC') OR event_id < {cursor_id:UUID})" in older
    assert params["cursor_ts"] == cursor.timestamp_ms and params["cursor_id"] == str(cursor.event_id)
    newer, _ = explorer.build_search(search, ["message"], limit=50, newer_than=cursor)
    assert "event_id > {cursor_id:UUID}" in newer and "ORDER BY timestamp ASC, event_id ASC" in newer
    for sql in (first, older, newer):
        assert "OFFSET" not in sql.upper() and "FROM logs FINAL" in sql
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        explorer.build_search(search, ["message", "nope"])


@pytest.mark.parametrize(
    "span",
    [timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=6), timedelta(days=1)]
    + [timedelta(days=7), timedelta(days=30), timedelta(seconds=100), timedelta(hours=3, minutes=7)],
)
def test_histograms_have_about_60_to_120_bars(span):
    step = explorer.step_for(T0, T0 + span)
    assert 48 <= -(-span.total_seconds() // step) <= 120


def test_histogram_bars_cover_the_range_with_empty_ones():
    rows = [
        (int(T0.timestamp()) + 60, "error", 2),
        (int(T0.timestamp()) + 60, "info", 5),
        (int(T0.timestamp()), "info", 1),
    ]
    bars = explorer.bars(rows, T0 + timedelta(seconds=10), T0 + timedelta(minutes=3), 60)
    assert [b.start for b in bars] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert [b.counts for b in bars] == [{"info": 1}, {"error": 2, "info": 5}, {}]
    assert [b.total for b in bars] == [1, 7, 0]


def test_histograms_read_the_rollups_only_when_they_can_answer_exactly():
    week = (T0, T0 + timedelta(days=7, seconds=30))
    sql, params, from_rollups = explorer.build_histogram(Search.parse("service:a -level:debug", *week))
    assert from_rollups and "FROM logs_1m FINAL" in sql and "FROM logs FINAL" in sql
    assert params["first"] == explorer.ms(T0) and params["last"] == explorer.ms(T0 + timedelta(days=7))
    for query in ("service:a word", "instance:i", "status_code:500"):
        sql, _, from_rollups = explorer.build_histogram(Search.parse(query, *week))
        assert not from_rollups and "logs_1m" not in sql
    _, _, from_rollups = explorer.build_histogram(Search.parse("service:a", T0, T0 + timedelta(minutes=10)))
    assert not from_rollups  # 10 s bars are not whole minutes
    with pytest.raises(ValueError, match="too many"):
        explorer.build_histogram(Search.parse("", *week), step_s=1)


def test_facets_name_user_keys_by_index_only():
    search = Search.parse("", T0, T0 + timedelta(hours=1))
    sql, params, names = explorer.build_facets(search, ["service", "attr.x'); DROP TABLE logs; --"], top=5)
    assert names == ["service", "attr.x'); DROP TABLE logs; --"]
    assert "DROP" not in sql and params["k0"] == "x'); DROP TABLE logs; --"
    assert "LIMIT {top:UInt32} BY facet" in sql
    with pytest.raises(UnknownFieldError):
        explorer.build_facets(search, ["nope"])


def test_the_timeline_merges_sorts_and_drops_repeats():
    def event(kind: str, seconds: int, event_id: str) -> TimelineEvent:
        return TimelineEvent(kind, T0 + timedelta(seconds=seconds), event_id, "s", "", "", {})

    clickhouse = [event("log", 2, "a"), event("api_metric", 1, "b")]
    postgres = [event("security_event", 3, "c"), event("admin_audit", 0, "d"), event("log", 2, "a")]
    merged = explorer.merge_timeline(clickhouse, postgres)
    assert [(e.kind, e.event_id) for e in merged] == [
        ("admin_audit", "d"),
        ("api_metric", "b"),
        ("log", "a"),
        ("security_event", "c"),
    ]


def test_timeline_summaries():
    assert explorer.summary("log", {"level": "error", "message": "boom"}) == "error: boom"
    api = {"method": "POST", "endpoint": "/pay", "status_code": 502, "response_time_ms": 12.5}
    assert explorer.summary("api_metric", api) == "POST /pay -> 502 in 12.5 ms"
    assert explorer.summary("security_event", {"severity": "high", "event_type": "brute_force"}) == "high brute_force"
    audit = {"action": "revoke", "resource_type": "api_key", "resource_id": "7"}
    assert explorer.summary("admin_audit", audit) == "revoke api_key 7"


def test_the_tail_cursor_remembers_only_what_it_returned_within_the_overlap():
    def row(event_id: str, at_ms: int) -> dict:
        return {"event_id": event_id, "ingested_at": datetime.fromtimestamp(at_ms / 1000, UTC)}

    assert explorer.advance(None, []) is None
    first = explorer.advance(None, [row("a", 1_000), row("b", 20_000), row("c", 25_000)], overlap_ms=10_000)
    assert first == TailCursor(25_000, (("b", 20_000), ("c", 25_000)))
    assert explorer.advance(first, [], overlap_ms=10_000) == first
    later = explorer.advance(first, [row("d", 24_000), row("e", 33_000)], overlap_ms=10_000)
    assert later == TailCursor(33_000, (("c", 25_000), ("d", 24_000), ("e", 33_000)))


def test_tail_reads_look_back_by_the_overlap_and_skip_what_was_seen():
    cursor = TailCursor(1_796_040_000_000, (("2b0c7c1e-0000-4000-8000-000000000000", 1_796_039_999_000),))
    sql, params = explorer.build_tail(parse("level:error"), cursor, ["message"], 10)
    assert params["from"] == cursor.since_ms - explorer.TAIL_OVERLAP_MS
    assert params["seen"] == ["2b0c7c1e-0000-4000-8000-000000000000"] and params["limit"] == 11
    assert "NOT has({seen:Array(UUID)}, event_id)" in sql and "ORDER BY ingested_at, timestamp, event_id" in sql
    first, _ = explorer.build_tail(None, None, ["message"], 10)
    assert "ORDER BY ingested_at DESC, timestamp DESC, event_id DESC" in first


def test_csv_export_quotes_and_defuses_formulas():
    rows = [
        {"timestamp": datetime(2026, 11, 30, 12, 0, 0, 5000), "message": 'say "hi", then\nleave', "status_code": None},
        {"timestamp": T0, "message": '=HYPERLINK("http://x")', "status_code": -1},
    ]
    text = "".join(explorer.encode_csv(["timestamp", "message", "status_code"], rows))
    assert text == (
        "timestamp,message,status_code\n"
        '2026-11-30T12:00:00.005000Z,"say ""hi"", then\nleave",\n'
        '2026-11-30T12:00:00Z,"\'=HYPERLINK(""http://x"")",-1\n'
    )


def test_ndjson_export_writes_one_object_per_line():
    event_id = uuid.uuid4()
    rows = [{"timestamp": T0, "event_id": event_id, "message": "a\nb", "status_code": None}]
    lines = b"".join(explorer.encode_ndjson(rows)).splitlines()
    assert [orjson.loads(line) for line in lines] == [
        {"timestamp": "2026-11-30T12:00:00Z", "event_id": str(event_id), "message": "a\nb", "status_code": None}
    ]
