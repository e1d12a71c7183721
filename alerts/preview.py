"""Rule preview: replay a rule over the past and say what it would have done, before it is saved.

:func:`preview` is pure: the same :func:`alerts.engine.evaluate` as the scheduler, step by step, so the
preview cannot disagree with what the rule will do (when it would have gone pending, fired and resolved,
and how many notifications it would have sent). :func:`history` fetches the past results: the rule's own
query, run as of each step.

A step is coarser than the rule's interval (:func:`steps`: at most ~100 queries per preview, each as
cheap as one evaluation), so a spike shorter than a step can be missed and pending/firing times are
rounded up to a step; the page says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg
from clickhouse_connect.driver.client import Client

from alerts.engine import QueryResult, Runtime, TimelineEntry, evaluate
from alerts.evaluation import run_query
from alerts.rules import Rule

# The ranges a preview covers, and the step each replays at (unless the rule's interval is longer).
SPANS = {"24h": (86_400, 900), "7d": (7 * 86_400, 7_200)}


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


def steps(rule: Rule, span: str, now: float) -> list[float]:
    """The evaluation times of a preview over ``span``, the last one ``now`` (so what just happened shows)."""
    length, step = SPANS[span]
    step = max(step, rule.interval_s)
    return [now - k * step for k in range(length // step, -1, -1)]


def history(rule: Rule, times: Iterable[float], warehouse: Client, conn: psycopg.Connection) -> list[
    tuple[float, QueryResult]
]:
    """What the rule's query answered as of each of ``times`` (PostgreSQL reads roll back: nothing is held)."""
    out = []
    for at in times:
        out.append((at, run_query(rule, at, warehouse, conn)))
        conn.rollback()
    return out
