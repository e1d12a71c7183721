"""Old and new values of an audit row, key by key, for the side-by-side view. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str | None  # None: the key is absent on that side
    new: str | None
    changed: bool  # worth highlighting: a value that differs, or every value of a creation or deletion


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        # "log, metric" wraps between items; '["log","metric"]' wrapped inside a word.
        return ", ".join(str(item) for item in value) if value else "(none)"
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 if isinstance(value, dict) else 0).decode()


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[FieldChange]:
    """Keys of both sides, old ones first. When both sides have values, a key present on one side only is
    context (a revoked key's name), not a change."""
    old, new = old or {}, new or {}
    one_sided = not old or not new
    out = []
    for name in list(old) + [name for name in new if name not in old]:
        before = _show(old[name]) if name in old else None
        after = _show(new[name]) if name in new else None
        both = before is not None and after is not None
        out.append(FieldChange(name, before, after, (both and before != after) or (one_sided and before != after)))
    return out
