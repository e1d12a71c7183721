"""Old and new values of an audit row, key by key, for the side-by-side view. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str | None  # None: the key was absent on that side
    new: str | None

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[FieldChange]:
    old, new = old or {}, new or {}
    names = list(old) + [name for name in new if name not in old]
    return [
        FieldChange(name, _show(old[name]) if name in old else None, _show(new[name]) if name in new else None)
        for name in names
    ]
