"""The query API's parameter parsing: any query string -> a LogQuery or a BadParameter naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboards.params import BadParameter, log_query, parse_time
from warehouse.queries.logs import MAX_LIMIT


@pytest.mark.parametrize("raw", ["²", "١٢", "0", "-1", "+5", " 5", str(MAX_LIMIT + 1), "9" * 5000, "1e3", ""])
def test_a_limit_that_is_not_a_small_ascii_number_names_limit(raw):
    with pytest.raises(BadParameter, match="^limit"):
        log_query({"limit": raw})


@pytest.mark.parametrize("raw, expected", [("1", 1), ("0100", 100), (str(MAX_LIMIT), MAX_LIMIT)])
def test_a_limit_in_range_is_used(raw, expected):
    assert log_query({"limit": raw}).limit == expected


@pytest.mark.parametrize(
    "name, raw",
    [
        ("from", "0001-01-01T00:00:00+01:00"),
        ("to", "9999-12-31T23:59:59-01:00"),
        ("from", "²³"),
        ("to", "9" * 5000),
        ("from", "99999999999999999"),
        ("from", "yesterday"),
        ("to", "2026-13-01T00:00:00Z"),
    ],
)
def test_a_time_that_cannot_be_read_or_moved_to_utc_names_its_parameter(name, raw):
    with pytest.raises(BadParameter, match=f"^{name}"):
        log_query({name: raw})


def test_times_are_returned_in_utc():
    assert parse_time("from", "2026-11-26T11:00:00+01:00") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert parse_time("from", "2026-11-26T10:00:00") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert parse_time("to", "1764151200000") == datetime(2025, 11, 26, 10, tzinfo=UTC)
    assert parse_time("from", "0001-01-01T00:00:00Z") == datetime(1, 1, 1, tzinfo=UTC)
