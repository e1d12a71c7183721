"""The explorer's URL state and the API's pure helpers: parameters checked with the parameter named, cursors
that survive a round trip, rows as JSON, the histogram figure and the Server-Sent Events framing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from dashboards.params import BadParameter
from dashboards.views import explorer_state as state
from dashboards.views.explorer_api import TailSlots, histogram_figure, jsonable, sse
from warehouse.queries import explorer
from warehouse.queries.explorer import Bar, Histogram, TailCursor
from warehouse.queries.search_language import SearchSyntaxError, UnknownFieldError

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_columns_default_and_unknown_ones_are_named():
    assert state.columns(None) == explorer.DEFAULT_COLUMNS
    assert state.columns("level, message,level") == ("level", "message")
    with pytest.raises(BadParameter, match=r"^columns: unknown column 'nope'"):
        state.columns("level,nope")


def test_only_attr_keys_can_be_pinned_and_not_too_many():
    assert state.pinned("attr.customer.tier,attr.amount,attr.amount") == ("attr.customer.tier", "attr.amount")
    for bad in ("level", "attr.", "'; DROP TABLE logs"):
        with pytest.raises(BadParameter, match="^pinned: "):
            state.pinned(bad)
    with pytest.raises(BadParameter, match="at most 10"):
        state.pinned(",".join(f"attr.k{i}" for i in range(11)))


def test_the_search_reports_syntax_errors_with_their_position_and_range_errors_as_parameters():
    span = state.time_range(None, None, NOW)
    assert span.raw_from == "now-1h" and span.end - span.start == timedelta(hours=1)
    with pytest.raises(SearchSyntaxError) as caught:
        state.search("level:error (service:x", span)
    assert caught.value.position == 22 and "')'" in caught.value.expected
    with pytest.raises(UnknownFieldError):
        state.search("colour:red", span)
    with pytest.raises(BadParameter, match="^from: must be earlier than to"):
        state.time_range("now", "now-1h", NOW)


def test_cursors_round_trip_and_garbage_is_a_parameter_error():
    anchor = explorer.Cursor(1_764_590_400_123, uuid.uuid4())
    assert state.cursor("older", anchor.encode()) == anchor
    assert state.cursor("older", "") is None
    with pytest.raises(BadParameter, match="^older: not a page cursor"):
        state.cursor("older", "%%%")


def test_tail_positions_round_trip_or_resume_from_an_arrival_time():
    position = TailCursor(1_764_590_400_000, (("a", 1_764_590_399_000), ("b", 1_764_590_400_000)))
    assert state.decode_tail(state.encode_tail(position), None) == position
    assert state.encode_tail(None) is None and state.decode_tail(None, None) is None
    assert state.decode_tail(None, "1764590400000") == TailCursor(1_764_590_400_000)
    with pytest.raises(BadParameter, match="^cursor: "):
        state.decode_tail("bm90IGpzb24", None)
    with pytest.raises(BadParameter, match="^since: "):
        state.decode_tail(None, "yesterday")


def test_a_saved_state_keeps_only_the_explorers_keys_in_order():
    raw = "older=abc&pinned=attr.a&q=level%3Aerror&to=now&from=now-6h&columns=level,message&evil=1"
    assert state.canonical_state(raw) == "q=level%3Aerror&from=now-6h&to=now&columns=level%2Cmessage&pinned=attr.a"
    assert state.canonical_state("") == ""
    with pytest.raises(BadParameter, match="^columns: "):
        state.canonical_state("columns=password")
    with pytest.raises(BadParameter, match="^state: longer"):
        state.canonical_state("q=" + "x" * 9000)


def test_rows_become_json_with_their_cursor():
    event_id = uuid.uuid4()
    row = {
        "timestamp": datetime(2026, 12, 1, 11, 59, 59, 250_000),  # naive from the engine: UTC
        "event_id": event_id,
        "metadata": '{"customer": {"tier": "gold"}}',
        "status_code": None,
    }
    out = jsonable(row)
    assert out["timestamp"] == "2026-12-01T11:59:59.250Z" and out["event_id"] == str(event_id)
    assert out["metadata"] == {"customer": {"tier": "gold"}} and out["status_code"] is None
    assert explorer.Cursor.decode(out["cursor"]) == explorer.Cursor(explorer.ms(row["timestamp"]), event_id)
    assert "cursor" not in jsonable({"kind": "x"}) and jsonable({"metadata": ""})["metadata"] == {}


def test_the_histogram_is_stacked_by_level_in_level_order_with_the_levels_colours():
    bars = [Bar(NOW, {"info": 3, "error": 1}), Bar(NOW + timedelta(minutes=1), {"warn": 2})]
    figure = histogram_figure(Histogram(60, bars, False))
    assert [t["name"] for t in figure["data"]] == ["error", "warn", "info"]
    assert figure["data"][0]["y"] == [1, 0] and figure["data"][0]["marker"]["color"] == "#d9483b"
    assert figure["data"][0]["x"][0] == "2026-12-01T12:00:00Z"
    assert figure["layout"]["barmode"] == "stack"
    empty = histogram_figure(Histogram(60, [Bar(NOW, {})], False))
    assert [t["y"] for t in empty["data"]] == [[0]]


def test_server_sent_events_are_framed_as_the_spec_says():
    assert sse("rows", {"rows": [], "since": 5}) == b'event: rows\ndata: {"rows":[],"since":5}\n\n'
    assert b"\n" not in orjson.dumps({"m": "two\nlines"})  # JSON escapes newlines: one data line per event


def test_tail_slots_bound_open_streams():
    slots = TailSlots(2)
    assert slots.acquire() and slots.acquire() and not slots.acquire()
    slots.release()
    assert slots.acquire()
