"""Panel plumbing that needs no server: the cache key, the pandas shaping and what the health pages share."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboards.charts import PALETTE
from dashboards.panel_cache import cache_key
from dashboards.shaping import align_previous, buckets, fill_gaps, to_csv
from dashboards.timerange import parse_range
from dashboards.views.health_panels import chart_query, page_query, stacked_events

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_cache_key_separates_roles_and_queries_and_ignores_parameter_order():
    a = cache_key("overview.requests", {"from": "now-24h", "service": "api"}, "viewer", 1000.0, 15)
    assert a == cache_key("overview.requests", {"service": "api", "from": "now-24h"}, "viewer", 1001.0, 15)
    assert a != cache_key("overview.requests", {"from": "now-24h", "service": "api"}, "admin", 1000.0, 15)
    assert a != cache_key("overview.requests", {"from": "now-24h", "service": "web"}, "viewer", 1000.0, 15)
    assert a != cache_key("overview.errors", {"from": "now-24h", "service": "api"}, "viewer", 1000.0, 15)
    # A new TTL bucket is a new key: "now" moves on.
    assert a != cache_key("overview.requests", {"from": "now-24h", "service": "api"}, "viewer", 1020.0, 15)


def test_buckets_cover_the_range_aligned_to_the_step():
    index = buckets(START + timedelta(seconds=30), START + timedelta(minutes=3), 60)
    assert list(index) == [pd.Timestamp("2026-12-01 10:00"), pd.Timestamp("2026-12-01 10:01"),
                           pd.Timestamp("2026-12-01 10:02")]  # fmt: skip


def test_missing_buckets_become_gaps_and_counts_become_zero():
    frame = pd.DataFrame(
        {
            "bucket": [pd.Timestamp("2026-12-01 10:00"), pd.Timestamp("2026-12-01 10:02")],
            "p95": [120.0, 180.0],
            "requests": [10, 12],
        }  # fmt: skip
    )
    shaped = fill_gaps(frame, START, START + timedelta(minutes=3), 60, zero=["requests"])
    assert list(shaped["requests"]) == [10, 0, 12]
    assert shaped["p95"].isna().tolist() == [False, True, False]


def test_gaps_are_filled_per_group():
    frame = pd.DataFrame(
        {
            "bucket": [pd.Timestamp("2026-12-01 10:00"), pd.Timestamp("2026-12-01 10:01")],
            "service": ["a", "b"],
            "requests": [1, 2],
        }  # fmt: skip
    )
    shaped = fill_gaps(frame, START, START + timedelta(minutes=2), 60, by=["service"], zero=["requests"])
    assert shaped[["service", "requests"]].values.tolist() == [["a", 1], ["a", 0], ["b", 0], ["b", 2]]


def test_an_empty_frame_shapes_to_empty_buckets():
    frame = pd.DataFrame({"bucket": pd.Series(dtype="datetime64[ns]"), "requests": pd.Series(dtype="int64")})
    shaped = fill_gaps(frame, START, START + timedelta(minutes=2), 60, zero=["requests"])
    assert list(shaped["requests"]) == [0, 0]


def test_the_previous_period_lands_on_the_current_axis_and_csv_has_utc_times():
    previous = pd.DataFrame({"bucket": [pd.Timestamp("2026-11-30 10:00")], "p95": [100.0]})
    moved = align_previous(previous, timedelta(days=1))
    assert moved["bucket"].tolist() == [pd.Timestamp("2026-12-01 10:00")]
    assert to_csv(moved) == "bucket,p95\n2026-12-01T10:00:00Z,100.0\n"


def test_stacked_events_follow_the_given_order_and_colours_else_names_and_the_palette():
    frame = pd.DataFrame({
        "bucket": [pd.Timestamp("2026-12-01 10:00")] * 3,
        "kind": ["b", "a", "high"],
        "events": [1, 2, 3],
    })  # fmt: skip
    by_name = stacked_events(frame, "kind")
    assert [t["name"] for t in by_name["data"]] == ["a", "b", "high"]
    assert [t["marker"]["color"] for t in by_name["data"]] == list(PALETTE[:3])
    assert by_name["data"][0]["x"] == ["2026-12-01T10:00:00Z"] and by_name["data"][0]["y"] == [2]
    assert by_name["layout"]["barmode"] == "stack"
    ordered = stacked_events(frame, "kind", order=["x", "high", "b"], colours={"high": "#e26a2c"})
    assert [t["name"] for t in ordered["data"]] == ["a", "high", "b"]  # "a" is not in the order: it counts as first
    assert ordered["data"][1]["marker"]["color"] == "#e26a2c"


def test_a_page_hands_its_panels_its_range_and_the_filters_set_and_its_charts_the_step_too():
    span = parse_range("now-1h", "now", START)
    shared = page_query(span, service="api", instance=None)
    assert shared == {"from": "now-1h", "to": "now", "service": "api"}
    assert chart_query(shared, None) == shared
    assert chart_query(shared, "300") == {**shared, "step": "300"}
