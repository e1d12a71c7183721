"""Parsing the dashboards API's query-string parameters. Pure: no I/O.

Every failure is a :class:`BadParameter` whose message starts with the parameter's name; numbers are
range-checked here, where they are read, so nothing downstream meets a value it cannot hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from warehouse.queries.logs import LEVELS, MAX_LIMIT, LogQuery

# Epoch milliseconds stay below 10**17 until long after year 9999; more digits are not a time.
_MAX_DIGITS = 17


class BadParameter(ValueError):
    """A query parameter is invalid; the message names it."""


def _digits(raw: str) -> bool:
    # str.isdigit alone accepts "²" and other Unicode digits, which int() refuses or reads as other numbers.
    return raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS


def parse_int(name: str, raw: str, low: int, high: int) -> int:
    if not _digits(raw) or not low <= int(raw) <= high:
        raise BadParameter(f"{name}: must be an integer between {low} and {high}")
    return int(raw)


def parse_time(name: str, raw: str) -> datetime:
    """RFC 3339 (``2026-11-26T10:00:00Z``) or epoch milliseconds, as a UTC datetime."""
    try:
        if _digits(raw):
            return datetime.fromtimestamp(int(raw) / 1000, UTC)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        # Moving to UTC can leave the calendar (0001-01-01T00:00+01:00): that is this parameter's error too.
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise BadParameter(f"{name}: expected RFC 3339 time or epoch milliseconds, got {raw[:64]!r}") from None


def log_query(args: Mapping[str, str]) -> LogQuery:
    level = args.get("level") or None
    if level is not None and level not in LEVELS:
        raise BadParameter(f"level: must be one of {', '.join(LEVELS)}")
    limit = parse_int("limit", args.get("limit", "100"), 1, MAX_LIMIT)
    start = parse_time("from", args["from"]) if args.get("from") else None
    end = parse_time("to", args["to"]) if args.get("to") else None
    if start and end and start >= end:
        raise BadParameter("from: must be earlier than to")
    return LogQuery(
        service=args.get("service") or None,
        level=level,
        text=args.get("q") or None,
        request_id=args.get("request_id") or None,
        correlation_id=args.get("correlation_id") or None,
        start=start,
        end=end,
        limit=limit,
    )
