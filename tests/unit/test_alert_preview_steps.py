"""The rule preview's pure parts: its steps, the one-query SQL that evaluates a rule as of every step, and the
page helpers that turn forms into documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access.errors import AccessError
from alerts.preview import steps
from alerts.rules import Query, Rule
from dashboards.views.alerts import channel_document, matchers_of
from dashboards.views.alerts_data import definition_of
from warehouse.queries.alert_queries import build, build_steps

END = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ENDS = [END - timedelta(minutes=15 * k) for k in range(4, -1, -1)]
HOSTILE = "x'); DROP TABLE logs; --"


def test_steps_end_now_and_never_come_faster_than_the_rule():
    rule = Rule(name="r", query=Query("log_count"), threshold=1, interval_s=30)
    day = steps(rule, "24h", 1_000_030.7)
    assert day[-1] == 1_000_030 and day[-2] == 1_000_020 and day[1] - day[0] == 900 and len(day) == 98
    assert all(t % 60 == 0 for t in day[:-1])  # past steps on whole minutes: the rollups' grain
    slow = Rule(name="r", query=Query("log_count"), threshold=1, interval_s=3 * 3600)
    week = steps(slow, "7d", 1_000_020)
    assert week[-1] == 1_000_020 and week[1] - week[0] == 3 * 3600 and len(week) == 7 * 24 // 3 + 1


def test_one_query_answers_every_step_with_the_same_filters_as_an_evaluation():
    stepped = build_steps("log_count", {"service": HOSTILE, "level": ["error"]}, ["service"], 300, ENDS)
    single = build("log_count", {"service": HOSTILE, "level": ["error"]}, ["service"], END - timedelta(minutes=5), END)
    assert HOSTILE not in stepped.sql
    assert stepped.params["steps"] == ENDS and stepped.params["window_s"] == 300
    assert stepped.params["start"] == ENDS[0] - timedelta(minutes=5) and stepped.params["end"] == END
    assert (
        "ARRAY JOIN arrayFilter(t -> minute >= toStartOfMinute(t - toIntervalSecond({window_s:UInt32}))" in stepped.sql
    )
    assert (
        stepped.sql.startswith("SELECT step, service, sum(events) AS value") and "GROUP BY step, service" in stepped.sql
    )
    # The rows read are the evaluation's own: same source and filters, a wider time range.
    source = single.sql.split(" FROM (", 1)[1].rsplit(") GROUP BY", 1)[0]
    assert source == stepped.sql.split(" FROM (", 1)[1].rsplit(") ARRAY JOIN", 1)[0]
    assert not stepped.empty_is_zero and build_steps("log_count", {}, [], 300, ENDS).empty_is_zero


def test_raw_text_heartbeat_and_security_steps():
    text = build_steps("log_count", {"text": "boom"}, [], 300, ENDS)
    assert "arrayFilter(t -> timestamp >= " in text.sql and "FROM logs FINAL" in text.sql
    beat = build_steps("heartbeat", {"kind": "log", "lookback_s": 3600}, ["service"], 300, ENDS)
    assert beat.params["window_s"] == 3600 and beat.params["start"] == ENDS[0] - timedelta(hours=1)
    assert "max(minute) + INTERVAL 1 MINUTE, step)" in beat.sql
    security = build_steps("security_events", {"event_type": [HOSTILE]}, ["ip_address"], 600, ENDS)
    assert security.database == "postgres" and HOSTILE not in security.sql
    assert security.sql.startswith("SELECT s.step AS step, host(ip_address) AS ip_address, count(*) AS value")
    assert "unnest(%(steps)s::timestamptz[]) AS s(step)" in security.sql and security.sql.endswith("GROUP BY 1, 2")
    assert security.params["steps"] == ENDS and security.params["window_s"] == 600


def test_the_editor_reads_yaml_and_names_the_line_of_a_mistake():
    assert definition_of("name: r\nthreshold: 5\n") == {"name": "r", "threshold": 5}
    with pytest.raises(AccessError, match=r"not valid YAML \(line 2, column 8\)"):
        definition_of("name: r\nquery: : x\n")
    with pytest.raises(AccessError, match="must be a YAML mapping"):
        definition_of("- a list")


def test_silence_matchers_and_channel_forms():
    assert matchers_of("rule=api-errors, service = payments") == {"rule": "api-errors", "service": "payments"}
    for bad in ("", "rule", "=x", "rule=a, nothing"):
        with pytest.raises(AccessError, match="label=value"):
            matchers_of(bad)
    mail = channel_document({"name": " ops ", "type": "email", "target": "a@x.io, b@x.io", "secret": ""})
    assert mail == {"name": "ops", "type": "email", "to": ["a@x.io", "b@x.io"]}
    hook = channel_document({"name": "h", "type": "webhook", "target": "https://h.example/", "secret": "s" * 16})
    assert hook == {"name": "h", "type": "webhook", "url": "https://h.example/", "secret": "s" * 16}
