"""Parsing the dashboards API's query-string parameters. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from warehouse.queries.logs import LEVELS, MAX_LIMIT, LogQuery


class BadParameter(ValueError):
    """A query parameter is invalid; the message names it."""


def parse_time(name: str, raw: str) -> datetime:
    """RFC 3339 (``2026-11-26T10:00:00Z``) or epoch milliseconds."""
    try:
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw) / 1000, UTC)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise BadParameter(f"{name}: expected RFC 3339 time or epoch milliseconds, got {raw!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def log_query(args: Mapping[str, str]) -> LogQuery:
    level = args.get("level") or None
    if level is not None and level not in LEVELS:
        raise BadParameter(f"level: must be one of {', '.join(LEVELS)}")
    raw_limit = args.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise BadParameter(f"limit: must be an integer between 1 and {MAX_LIMIT}")
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
        limit=int(raw_limit),
    )
