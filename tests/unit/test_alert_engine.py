"""The alert state machine, grouping and notification decisions over scripted timelines (time is an argument)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts.engine import Ack, QueryResult, Runtime, Sample, evaluate
from alerts.grouping import Silence, fingerprint
from alerts.rules import Query, Rule
from alerts.state import AlertState, Observation, Status, step

RULE = Rule(
    name="errors",
    query=Query("log_count", {"level": ["error"]}),
    threshold=10,
    interval_s=10,
    for_s=30,
    renotify_s=0,
    group_interval_s=30,
    flap_window_s=0,
)
KEY = fingerprint("errors", {})


class Script:
    """Feeds one value per evaluation to a rule and keeps what each evaluation decided."""

    def __init__(self, rule: Rule, start: float = 1000.0) -> None:
        self.rule = rule
        self.now = start
        self.runtime = Runtime()
        self.notices: list[tuple[float, str, tuple[str, ...], tuple[str, ...]]] = []
        self.timeline: list[tuple[float, str]] = []
        self.silences: tuple[Silence, ...] = ()
        self.acks: dict[str, Ack] = {}

    def feed(self, *values: float | None | Exception) -> Script:
        for value in values:
            if isinstance(value, Exception):
                self._run(QueryResult(error=str(value)))
            else:
                self._run(QueryResult(() if value is None else (Sample({}, value),)))
        return self

    def feed_keys(self, samples: dict[str, float]) -> Script:
        return self._run(QueryResult(tuple(Sample({"service": s}, v) for s, v in samples.items())))

    def _run(self, result: QueryResult) -> Script:
        done = evaluate(self.rule, self.runtime, result, self.now, self.silences, self.acks)
        self.runtime = done.runtime
        self.timeline += [(e.at, e.kind) for e in done.timeline]
        if done.notice:
            firing = tuple(a.group_key_text for a in done.notice.firing)
            resolved = tuple(a.group_key_text for a in done.notice.resolved)
            self.notices.append((self.now, done.notice.kind, firing, resolved))
        self.now += self.rule.interval_s
        return self

    @property
    def status(self) -> Status:
        state = self.runtime.alerts.get(KEY)
        return state.status if state else Status.INACTIVE

    def kinds(self) -> list[str]:
        return [kind for _, kind, _, _ in self.notices]


def test_a_breach_shorter_than_for_goes_pending_then_clears_without_a_notification():
    s = Script(RULE).feed(50, 50, 50)  # 20 s of breach, `for` is 30 s
    assert s.status is Status.PENDING
    s.feed(1)
    assert s.status is Status.INACTIVE
    assert s.notices == []
    assert [k for _, k in s.timeline] == ["pending", "cleared"]


def test_a_breach_longer_than_for_fires_once_when_for_has_elapsed():
    s = Script(RULE).feed(50, 50, 50, 50, 50, 50)
    assert [(t, k) for t, k in s.timeline] == [(1000, "pending"), (1030, "firing")]
    assert s.notices == [(1030, "firing", ("{}",), ())]
    assert s.status is Status.FIRING


def test_for_zero_fires_on_the_first_breach():
    s = Script(replace(RULE, for_s=0)).feed(50)
    assert s.notices == [(1000, "firing", ("{}",), ())]


def test_recovery_resolves_and_announces_it_after_group_interval():
    s = Script(replace(RULE, for_s=0)).feed(50, 1, 1, 1, 1)
    # resolved at 1010, announced once group_interval (30 s) after the firing message
    assert s.notices == [(1000, "firing", ("{}",), ()), (1030, "resolved", (), ("{}",))]
    assert ("resolved", 1010) in [(k, t) for t, k in s.timeline]
    assert KEY not in s.runtime.group.sent_firing


def test_keep_firing_for_holds_the_alert_through_a_short_dip():
    rule = replace(RULE, for_s=0, keep_firing_for_s=25)
    s = Script(rule).feed(50, 1, 1, 50, 1, 1)  # the dip at 1010-1020 is shorter than 25 s
    assert s.status is Status.FIRING
    assert [k for _, k in s.timeline] == ["firing"]
    s.feed(1)  # 1060: 30 s since the last breach at 1030
    assert s.status is Status.RESOLVED or KEY not in s.runtime.alerts or s.status is Status.INACTIVE
    assert [k for _, k in s.timeline] == ["firing", "resolved"]


def test_flapping_is_held_firing_until_clear_for_the_whole_window():
    rule = replace(RULE, for_s=0, flap_window_s=120, flap_max_changes=4, group_interval_s=1)
    s = Script(rule).feed(50, 1, 50, 1, 50, 1, 50, 1)
    kinds = [k for _, k in s.timeline]
    # fire, resolve, fire, then the next end would be the 4th change in 120 s: held instead
    assert kinds[:4] == ["firing", "resolved", "firing", "flapping"]
    assert kinds.count("firing") == 2 and kinds.count("resolved") == 1
    assert s.kinds() == ["firing", "resolved", "firing"]
    assert s.status is Status.FIRING
    s.feed(*[1] * 10)  # last breach at 1060; now 1170, 110 s clear: still held
    assert s.status is Status.FIRING
    s.feed(1)  # 1180: 120 s clear, resolved, once
    assert [k for _, k in s.timeline].count("resolved") == 2
    assert s.kinds() == ["firing", "resolved", "firing", "resolved"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("ok", Status.RESOLVED), ("alerting", Status.FIRING), ("keep_last", Status.FIRING)],
)
def test_no_data_while_firing_follows_the_rule_policy(policy, expected):
    rule = replace(RULE, for_s=0, no_data=policy)
    state, _ = step(rule, AlertState(), Observation(50), 0)
    state, events = step(rule, state, Observation(None), 10)
    assert state.status is expected
    assert events[0].kind == "no_data"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("ok", Status.INACTIVE), ("alerting", Status.FIRING), ("keep_last", Status.INACTIVE)],
)
def test_no_data_from_the_start_follows_the_rule_policy(policy, expected):
    state, _ = step(replace(RULE, for_s=0, no_data=policy), AlertState(), Observation(None), 0)
    assert state.status is expected


@pytest.mark.parametrize(
    ("policy", "before", "expected"),
    [
        ("ok", 50, Status.RESOLVED),
        ("alerting", 1, Status.FIRING),
        ("keep_last", 50, Status.FIRING),
        ("keep_last", 1, Status.INACTIVE),
    ],
)
def test_query_errors_follow_the_rule_policy_and_are_recorded(policy, before, expected):
    s = Script(replace(RULE, for_s=0, on_error=policy)).feed(before, RuntimeError("clickhouse unavailable"))
    status = s.runtime.alerts[KEY].status if KEY in s.runtime.alerts else Status.INACTIVE
    assert status is expected
    assert "error" in [k for _, k in s.timeline]


def test_re_notification_repeats_every_renotify_interval_while_firing():
    s = Script(replace(RULE, for_s=0, renotify_s=60)).feed(*[50] * 14)  # 1000 .. 1130
    assert [(t, k) for t, k, _, _ in s.notices] == [(1000, "firing"), (1060, "repeat"), (1120, "repeat")]


def test_no_data_and_errors_are_recorded_when_they_begin_not_at_every_evaluation():
    s = Script(replace(RULE, for_s=0, no_data="keep_last", on_error="keep_last"))
    s.feed(50, None, None, None, RuntimeError("down"), RuntimeError("down"), RuntimeError("other"), 50, None)
    assert [k for _, k in s.timeline] == ["firing", "no_data", "error", "error", "no_data"]
    assert s.status is Status.FIRING


def test_renotify_zero_never_repeats():
    s = Script(replace(RULE, for_s=0, renotify_s=0)).feed(*[50] * 30)
    assert s.kinds() == ["firing"]


def test_acknowledge_stops_repeats_but_the_resolution_is_still_announced():
    s = Script(replace(RULE, for_s=0, renotify_s=60)).feed(50, 50)
    s.acks = {KEY: Ack("alice", s.now)}
    s.feed(*[50] * 12)  # two renotify intervals
    assert s.kinds() == ["firing"]
    assert s.runtime.alerts[KEY].acknowledged_by == "alice"
    assert [k for _, k in s.timeline].count("acknowledged") == 1
    s.acks = {}
    s.feed(1, 1, 1, 1)
    assert s.kinds() == ["firing", "resolved"]


def test_a_silence_suppresses_while_active_and_the_alert_is_announced_when_it_expires():
    rule = replace(RULE, for_s=0, renotify_s=0, group_interval_s=10)
    s = Script(rule)
    s.silences = (Silence(1, {"rule": "errors"}, starts_at=1000, ends_at=1055, author="bob"),)
    s.feed(50, 50, 50, 50, 50)  # 1000 .. 1040, silenced
    assert s.notices == []
    assert [k for _, k in s.timeline] == ["firing", "silenced"]
    s.feed(50, 50)  # 1050 still silenced, 1060 expired
    assert s.notices == [(1060, "firing", ("{}",), ())]
    assert [k for _, k in s.timeline][-1] == "unsilenced"


def test_a_silence_on_other_labels_does_not_match():
    s = Script(replace(RULE, for_s=0))
    s.silences = (Silence(1, {"rule": "errors", "service": "other"}, 0, 10_000),)
    s.feed(50)
    assert s.kinds() == ["firing"]


def test_a_silence_that_starts_while_firing_mutes_the_resolution_too():
    s = Script(replace(RULE, for_s=0, group_interval_s=10)).feed(50)
    s.silences = (Silence(1, {"severity": "warning"}, s.now, s.now + 1000),)
    s.feed(50, 1, 1, 1)
    assert s.kinds() == ["firing"]


def test_group_keys_firing_together_travel_in_one_message_and_changes_wait_group_interval():
    rule = replace(RULE, for_s=0, group_by=("service",), group_wait_s=10, group_interval_s=30, renotify_s=0)
    s = Script(rule)
    s.feed_keys({"a": 50})  # 1000: group_wait starts
    s.feed_keys({"a": 50, "b": 50})  # 1010: wait over, one message with both
    s.feed_keys({"a": 50, "b": 50, "c": 50})  # 1020: c new, but group_interval since 1010
    s.feed_keys({"a": 50, "b": 1, "c": 50})  # 1030: b resolves
    s.feed_keys({"a": 50, "b": 1, "c": 50})  # 1040: interval over -> c firing + b resolved together
    s.feed_keys({"a": 50, "b": 1, "c": 50})
    assert s.notices == [
        (1010, "firing", ('{service="a"}', '{service="b"}'), ()),
        (1040, "firing", ('{service="a"}', '{service="c"}'), ('{service="b"}',)),
    ]


def test_runtime_survives_a_round_trip_through_json():
    s = Script(replace(RULE, for_s=0, renotify_s=60)).feed(50, 50)
    assert Runtime.from_json(s.runtime.to_json()) == s.runtime
