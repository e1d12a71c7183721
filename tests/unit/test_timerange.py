from datetime import UTC, datetime, timedelta

import pytest

from dashboards.params import BadParameter
from dashboards.timerange import parse_range

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_relative_ranges_resolve_against_the_given_clock():
    r = parse_range("now-15m", "now", NOW)
    assert (r.start, r.end, r.label) == (NOW - timedelta(minutes=15), NOW, "Last 15 minutes")
    assert parse_range("now-2w", None, NOW).start == NOW - timedelta(weeks=2)


def test_defaults_to_the_last_24_hours():
    r = parse_range(None, None, NOW)
    assert (r.start, r.end, r.raw_from, r.raw_to) == (NOW - timedelta(hours=24), NOW, "now-24h", "now")


def test_absolute_ranges_and_their_label():
    r = parse_range("2026-11-30T10:00:00Z", "2026-11-30T11:30:00Z", NOW)
    assert r.start == datetime(2026, 11, 30, 10, tzinfo=UTC) and r.label.startswith("2026-11-30 10:00 to")


@pytest.mark.parametrize(
    "raw_from, raw_to, message",
    [
        ("now-1h", "now-2h", "earlier than to"),
        ("yesterday", "now", "from: expected RFC 3339"),
        ("now-5y", None, "from"),
    ],
)
def test_bad_ranges_name_the_parameter(raw_from, raw_to, message):
    with pytest.raises(BadParameter, match=message):
        parse_range(raw_from, raw_to, NOW)
