"""The explorer's state as it lives in the URL (and in saved views): parsing and checking it. Pure: no I/O.

Every failure is a BadParameter naming the parameter, so the API answers 400.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

import orjson

from dashboards.params import BadParameter, parse_int
from dashboards.timerange import TimeRange, parse_range
from warehouse.queries import explorer
from warehouse.queries.explorer import Cursor, TailCursor
from warehouse.queries.search_language import SearchError

STATE_KEYS = ("q", "from", "to", "columns", "pinned")
DEFAULT_FROM = "now-1h"
MAX_PINNED = 10
MAX_STATE = 8192


def columns(raw: str | None, default: tuple[str, ...] = explorer.DEFAULT_COLUMNS) -> tuple[str, ...]:
    if not raw:
        return default
    try:
        return explorer.check_columns(c.strip() for c in raw.split(",") if c.strip())
    except ValueError as exc:
        raise BadParameter(f"columns: {exc}") from None


def pinned(raw: str | None) -> tuple[str, ...]:
    """attr.<key> fields the user pinned as facets."""
    names = tuple(dict.fromkeys(n.strip() for n in (raw or "").split(",") if n.strip()))
    if len(names) > MAX_PINNED:
        raise BadParameter(f"pinned: at most {MAX_PINNED} fields")
    for name in names:
        if not name.startswith("attr.") or explorer.FIELDS.attr_keys(name) is None:
            raise BadParameter(f"pinned: {name[:80]!r} is not an attr.<key> field")
    return names


def time_range(raw_from: str | None, raw_to: str | None, now: datetime, default_from: str = DEFAULT_FROM) -> TimeRange:
    return parse_range(raw_from or default_from, raw_to, now)


def search(text: str, span: TimeRange) -> explorer.Search:
    """Raises SearchError (the query: with its position) or BadParameter."""
    try:
        return explorer.Search.parse(text, span.start, span.end)
    except SearchError:
        raise
    except ValueError as exc:
        raise BadParameter(f"from: {exc}") from None


def cursor(name: str, raw: str | None) -> Cursor | None:
    if not raw:
        return None
    try:
        return Cursor.decode(raw)
    except ValueError as exc:
        raise BadParameter(f"{name}: {exc}") from None


def limit(name: str, raw: str | None, default: int, high: int) -> int:
    return default if raw in (None, "") else parse_int(name, raw, 1, high)


def encode_tail(position: TailCursor | None) -> str | None:
    if position is None:
        return None
    raw = orjson.dumps([position.since_ms, [list(s) for s in position.seen]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_tail(raw: str | None, since: str | None) -> TailCursor | None:
    """A tail's position from a read's cursor, or from ``since`` alone (a paused page resuming: the rows of
    the overlap come again, and the page drops the ones it shows already)."""
    if raw:
        try:
            since_ms, seen = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            return TailCursor(int(since_ms), tuple((str(i), int(m)) for i, m in seen))
        except (ValueError, TypeError):
            raise BadParameter(f"cursor: not a tail cursor: {raw[:80]!r}") from None
    if since:
        return TailCursor(parse_int("since", since, 0, 10**15))
    return None


def canonical_state(raw: str | Mapping[str, str]) -> str:
    """A URL query string holding only the explorer's state keys, each checked; raises BadParameter."""
    pairs = parse_qsl(raw.lstrip("?"), keep_blank_values=False) if isinstance(raw, str) else list(raw.items())
    state = {k: v for k, v in pairs if k in STATE_KEYS}
    columns(state.get("columns"))
    pinned(state.get("pinned"))
    encoded = urlencode([(k, state[k]) for k in STATE_KEYS if k in state])
    if len(encoded) > MAX_STATE:
        raise BadParameter(f"state: longer than {MAX_STATE} characters")
    return encoded
