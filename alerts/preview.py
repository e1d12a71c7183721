"""Rule preview: replay a rule over the past and say what it would have done, before it is saved.

:func:`preview` is pure: the same :func:`alerts.engine.evaluate` as the scheduler, step by step, so the
preview cannot disagree with what the rule will do (when it would have gone pending, fired and resolved,
and how many notifications it would have sent). :func:`history` fetches the past results: the rule's own
query, run as of each step.

A step is coarser than the rule's interval (:func:`steps`: ~100 per preview, all in one query,
alert_queries.build_steps), so a spike shorter than a step can be missed and pending/firing times are
rounded up to a step; the page says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from clickhouse_connect.driver.client import Client

from alerts.engine import QueryResult, Runtime, Sample, TimelineEntry, evaluate
from alerts.evaluation import fetch, samples
from alerts.rules import Rule
from warehouse.queries import alert_queries

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
    """The evaluation times of a preview over ``span``: whole minutes, then ``now`` itself (so what just
    happened shows). Past steps fall on whole minutes because the rollups cannot cut a minute: as of a
    whole minute, a rolled-up minute and one read raw give the scheduler's answer exactly."""
    length, step = SPANS[span]
    step = max(step, rule.interval_s)
    last = int(now) - int(now) % 60
    times = [float(last - k * step) for k in range(length // step, -1, -1)]
    return times if last == int(now) else [*times, float(int(now))]


def _epoch(value: Any) -> float:
    # chDB may hand DateTime64('UTC') back without its zone; the column is UTC either way.
    stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    return float(round(stamp.timestamp()))


def history(
    rule: Rule, times: Sequence[float], warehouse: Client, conn: psycopg.Connection
) -> list[tuple[float, QueryResult]]:
    """What the rule's query answered as of each of ``times``, read in one query."""
    ends = [datetime.fromtimestamp(t, UTC) for t in times]
    built = alert_queries.build_steps(rule.query.type, rule.query.params, rule.group_by, rule.window_s, ends)
    try:
        rows = fetch(built, warehouse, conn)
    except Exception as exc:  # noqa: BLE001 - shown as the preview's error, as the scheduler records it
        failed = QueryResult(error=f"{type(exc).__name__}: {str(exc)[:300]}")
        return [(at, failed) for at in times]
    finally:
        conn.rollback()
    by_step: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_step[_epoch(row["step"])].append(row)
    zero = (Sample({}, 0.0),) if built.empty_is_zero else ()
    return [(at, QueryResult(samples(by_step[at], built.group_by) if at in by_step else zero)) for at in times]
