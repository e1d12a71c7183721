"""The health pages' pure logic: which levels apply to a gauge, staleness, ordering by closeness, the
thresholds setting, the security filter's SQL and the panels' bucket step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboards import health
from dashboards.params import BadParameter
from dashboards.timerange import parse_range
from dashboards.views.health_panels import step_of
from lookout.settings import Limits, Settings, SettingsError
from warehouse.queries.security_events import SecurityFilter, build_where

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONFIGURED = {"cpu.usage": Limits(80, 95), "disk.used": Limits(70, 90)}


def rule(metric: str, threshold: float, **extra: object) -> dict:
    query = {"type": "system_metric", "metric_name": metric, **extra.pop("query", {})}
    return {"name": "r", "enabled": extra.pop("enabled", True), "definition": {"name": "r", "query": query,
            "threshold": threshold, **extra}}  # fmt: skip


def test_an_alert_rule_wins_over_the_samples_and_the_setting():
    rules = health.rule_levels([rule("cpu.usage", 70, critical_threshold=85)])
    assert health.levels_for("api", "a1", "cpu.usage", 60.0, 99.0, rules, CONFIGURED) == (
        70.0, 85.0, "alert rule r",
    )  # fmt: skip


def test_rules_that_do_not_give_a_ceiling_are_ignored():
    rules = health.rule_levels([
        rule("cpu.usage", 70, enabled=False),
        rule("cpu.usage", 5, comparator="<"),
        {"name": "x", "enabled": True, "definition": {"query": {"type": "api_latency"}, "threshold": 200}},
    ])  # fmt: skip
    assert rules == []


def test_a_critical_rule_without_critical_threshold_makes_its_threshold_both_levels():
    (levels,) = health.rule_levels([rule("load", 8, severity="critical")])
    assert (levels.warning, levels.critical) == (8.0, 8.0)
    (warning_only,) = health.rule_levels([rule("load", 8)])
    assert health.levels_for("s", "i", "load", None, None, [warning_only], {}) == (8.0, None, "alert rule r")


def test_a_rule_restricted_to_one_instance_applies_to_that_instance_only():
    rules = health.rule_levels([rule("cpu.usage", 50, query={"instance": "a1"})])
    assert health.levels_for("api", "a1", "cpu.usage", None, None, rules, CONFIGURED)[2] == "alert rule r"
    assert health.levels_for("api", "a2", "cpu.usage", None, None, rules, CONFIGURED) == (
        80.0, 95.0, "LOOKOUT_SYSTEM_THRESHOLDS",
    )  # fmt: skip


def test_levels_carried_by_samples_come_before_the_setting_and_nan_means_absent():
    assert health.levels_for("s", "i", "cpu.usage", 60.0, float("nan"), [], CONFIGURED) == (
        60.0, None, "the samples",
    )  # fmt: skip
    assert health.levels_for("s", "i", "disk.used", float("nan"), None, [], CONFIGURED) == (
        70.0, 90.0, "LOOKOUT_SYSTEM_THRESHOLDS",
    )  # fmt: skip
    # Matched on the name only: another gauge of the same type (idle CPU, bytes of memory) gets no levels.
    assert health.levels_for("s", "i", "cpu.usage.idle", None, None, [], CONFIGURED) == (None, None, "")


def test_stale_after_the_configured_number_of_intervals():
    # The last sample may be up to a minute after its minute: 12:00 + 60 s + 3 x 60 s = 12:04.
    assert not health.is_stale(NOW, NOW + timedelta(minutes=4), 60, 3)
    assert health.is_stale(NOW, NOW + timedelta(minutes=4, seconds=1), 60, 3)


def test_states_and_closeness():
    assert health.state_of(96, 80, 95) == "critical"
    assert health.state_of(95, 80, 95) == "critical"
    assert health.state_of(81, 80, 95) == "warning"
    assert health.state_of(10, 80, None) == "ok"
    assert health.state_of(10, None, None) == "unknown"
    assert health.closeness(47.5, 80, 95) == 0.5
    assert health.closeness(40, 80, None) == 0.5
    assert health.closeness(40, None, None) is None


def test_an_instance_is_stale_when_every_gauge_is_else_its_worst_live_state():
    assert health.instance_state(["stale", "stale"]) == "stale"
    assert health.instance_state(["stale", "ok", "warning"]) == "warning"
    assert health.instance_state(["unknown", "critical"]) == "critical"


def test_assess_puts_stale_instances_first_then_the_closest_to_their_levels():
    latest = pd.DataFrame([
        {"service": "s", "instance": "calm", "metric_name": "cpu.usage", "metric_type": "cpu", "unit": "percent",
         "last_minute": pd.Timestamp("2026-12-01 11:59"), "last_value": 20.0, "peak": 30.0},
        {"service": "s", "instance": "hot", "metric_name": "mem", "metric_type": "memory", "unit": "percent",
         "last_minute": pd.Timestamp("2026-12-01 11:59"), "last_value": 10.0, "peak": 10.0},
        {"service": "s", "instance": "hot", "metric_name": "cpu.usage", "metric_type": "cpu", "unit": "percent",
         "last_minute": pd.Timestamp("2026-12-01 11:59"), "last_value": 97.0, "peak": 97.0},
        {"service": "s", "instance": "gone", "metric_name": "cpu.usage", "metric_type": "cpu", "unit": "percent",
         "last_minute": pd.Timestamp("2026-12-01 11:40"), "last_value": 5.0, "peak": 5.0},
    ]).assign(sample_warning=float("nan"), sample_critical=float("nan"))  # fmt: skip
    frame = health.assess(latest, NOW, [], CONFIGURED, 60, 3)
    assert list(zip(frame["instance"], frame["metric_name"], frame["state"], strict=True)) == [
        ("gone", "cpu.usage", "stale"),
        ("hot", "cpu.usage", "critical"),
        ("hot", "mem", "unknown"),
        ("calm", "cpu.usage", "ok"),
    ]
    assert frame.loc[1, "closeness"] == pytest.approx(97 / 95)


def test_the_thresholds_setting_is_validated_and_round_trips():
    settings = Settings.from_env({"LOOKOUT_SYSTEM_THRESHOLDS": "cpu=70:90, load.1m=4:8"})
    assert settings.system_thresholds == {"cpu": Limits(70, 90), "load.1m": Limits(4, 8)}
    assert Settings.from_env(settings.as_env()).system_thresholds == settings.system_thresholds
    for bad in ("cpu=90:70", "cpu=80", "cpu=a:b", "=1:2"):
        with pytest.raises(SettingsError, match="LOOKOUT_SYSTEM_THRESHOLDS"):
            Settings.from_env({"LOOKOUT_SYSTEM_THRESHOLDS": bad})


def test_the_security_filter_is_parameterized():
    wanted = SecurityFilter(NOW - timedelta(hours=1), NOW, ("high", "critical"), "failed_login", "203.0.113.7",
                            "u-1' OR 1=1", "open")  # fmt: skip
    where = build_where(wanted)
    assert "u-1" not in where.sql and "203.0.113.7" not in where.sql
    assert where.params["account"] == "u-1' OR 1=1"
    assert where.params["severities"] == ["high", "critical"]
    assert where.sql.endswith("NOT investigated")
    assert build_where(SecurityFilter(NOW - timedelta(hours=1), NOW, state="false_positive")).sql.endswith(
        "false_positive"
    )


@pytest.mark.parametrize(("field", "kwargs"), [("severity", {"severities": ("urgent",)}), ("state", {"state": "done"})])
def test_the_security_filter_names_a_bad_value(field, kwargs):
    with pytest.raises(ValueError, match=field):
        SecurityFilter(NOW - timedelta(hours=1), NOW, **kwargs)


def test_the_bucket_step_is_checked_against_the_range():
    day = parse_range("now-24h", "now", NOW)
    assert step_of(None, day) % 60 == 0 and 24 * 3600 / step_of(None, day) <= 120
    assert step_of(300, day) == 300
    for bad, message in ((7, "multiple of 60"), (0, "multiple of 60"), (60 * 8 * 86400, "between"), (60, None)):
        if message is None:  # 60 s over 24 h is 1440 buckets: allowed; over 30 days it is not
            assert step_of(bad, day) == 60
            with pytest.raises(BadParameter, match="more than"):
                step_of(bad, parse_range("now-30d", "now", NOW))
            continue
        with pytest.raises(BadParameter, match=message):
            step_of(bad, day)
