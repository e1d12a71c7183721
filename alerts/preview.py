"""Rule preview, the pure half: replay a rule over past query results and say what it would have done.

The same :func:`alerts.engine.evaluate` as the scheduler, step by step, so the preview cannot disagree
with what the rule will do: when it would have gone pending, fired and resolved, and how many
notifications it would have sent. Fetching the past results (one per evaluation step, from the
minute series) is for the rules page, which is not built yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerts.engine import QueryResult, Runtime, TimelineEntry, evaluate
from alerts.rules import Rule


@dataclass(frozen=True)
class Preview:
    timeline: tuple[TimelineEntry, ...]
    notifications: tuple[tuple[float, str], ...]  # (when, firing | repeat | resolved)


def preview(rule: Rule, results: Iterable[tuple[float, QueryResult]]) -> Preview:
    """``results``: (evaluation time, what the query answered then), in time order."""
    runtime = Runtime()
    timeline: list[TimelineEntry] = []
    notifications: list[tuple[float, str]] = []
    for at, result in results:
        done = evaluate(rule, runtime, result, at)
        runtime = done.runtime
        timeline.extend(done.timeline)
        if done.notice is not None:
            notifications.append((at, done.notice.kind))
    return Preview(tuple(timeline), tuple(notifications))
