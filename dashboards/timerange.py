"""The time range every page keeps in its URL: ``from``/``to`` as ``now``, ``now-15m`` (s, m, h, d, w) or an
absolute time (RFC 3339 or epoch milliseconds). Pure: the clock is an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboards.params import BadParameter, parse_time

_RELATIVE = re.compile(r"^now(?:-(\d{1,6})([smhdw]))?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
QUICK_RANGES: tuple[tuple[str, str], ...] = (
    ("now-15m", "Last 15 minutes"),
    ("now-1h", "Last hour"),
    ("now-6h", "Last 6 hours"),
    ("now-24h", "Last 24 hours"),
    ("now-7d", "Last 7 days"),
    ("now-30d", "Last 30 days"),
)
DEFAULT_FROM = "now-24h"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    raw_from: str
    raw_to: str

    @property
    def label(self) -> str:
        quick = dict(QUICK_RANGES)
        if self.raw_to == "now" and self.raw_from in quick:
            return quick[self.raw_from]
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


def resolve(name: str, raw: str, now: datetime) -> datetime:
    match = _RELATIVE.match(raw.strip())
    if match:
        amount, unit = match.groups()
        try:
            return now - timedelta(**{_UNITS[unit]: int(amount)}) if amount else now
        except OverflowError:  # now-999999w is before year 1
            raise BadParameter(f"{name}: {raw.strip()!r} is before the first representable time") from None
    return parse_time(name, raw.strip())


def parse_range(raw_from: str | None, raw_to: str | None, now: datetime) -> TimeRange:
    raw_from, raw_to = raw_from or DEFAULT_FROM, raw_to or "now"
    start, end = resolve("from", raw_from, now), resolve("to", raw_to, now)
    if start >= end:
        raise BadParameter("from: must be earlier than to")
    return TimeRange(start, end, raw_from, raw_to)
