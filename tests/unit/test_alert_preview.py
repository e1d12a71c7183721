"""Rule preview: a replay over past values shows pending, firing, resolved and the notifications."""

from __future__ import annotations

from alerts.engine import QueryResult, Sample
from alerts.preview import preview
from alerts.rules import Query, Rule


def test_a_preview_replays_the_rule_and_counts_its_notifications():
    rule = Rule(name="p95", query=Query("api_latency"), threshold=200, interval_s=60, for_s=120,
                renotify_s=600, group_interval_s=60, flap_window_s=0)  # fmt: skip
    values = [100, 250, 260, 270] + [300] * 11 + [150, 120]  # one value per minute
    shown = preview(rule, [(60.0 * i, QueryResult((Sample({}, v),))) for i, v in enumerate(values)])
    assert [(e.kind, e.at) for e in shown.timeline] == [("pending", 60), ("firing", 180), ("resolved", 900)]
    assert shown.notifications == ((180, "firing"), (780, "repeat"), (900, "resolved"))


def test_a_rule_that_never_breaches_previews_quietly():
    rule = Rule(name="quiet", query=Query("log_count"), threshold=1000)
    shown = preview(rule, [(60.0 * i, QueryResult((Sample({}, 5),))) for i in range(100)])
    assert shown.timeline == () and shown.notifications == ()
