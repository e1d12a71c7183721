"""Panel plumbing that needs no server: the cache key and the pandas shaping."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboards.panel_cache import cache_key
from dashboards.shaping import align_previous, buckets, fill_gaps, to_csv

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
