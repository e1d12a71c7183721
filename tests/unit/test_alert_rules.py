"""Rule and channel validation: every problem named by file, rule and field."""

from __future__ import annotations

import pytest

from alerts.rules import Channel, Query, RuleError, parse_document, parse_rule
from alerts.ruleset import diff

GOOD = {
    "name": "api-errors",
    "query": {"type": "api_error_rate", "service": "payments"},
    "group_by": ["endpoint"],
    "threshold": 5,
    "for": "2m",
    "keep_firing_for": "30s",
    "interval": "10s",
    "channels": ["ops"],
    "runbook_url": "https://runbooks.example/api-errors",
}


def test_a_good_rule_parses_with_durations_in_seconds_and_round_trips():
    rule = parse_rule(GOOD, "rules.yaml", 0)
    assert rule.query == Query("api_error_rate", {"service": "payments"})
    assert (rule.for_s, rule.keep_firing_for_s, rule.interval_s, rule.window_s) == (120, 30, 10, 300)
    assert parse_rule(rule.to_dict(), "again", 0) == rule


def test_every_problem_is_reported_with_file_rule_and_field():
    bad = {
        **GOOD,
        "threshold": "high",
        "for": "soon",
        "group_by": ["region"],
        "no_data": "panic",
        "colour": "red",
        "runbook_url": "ftp://x",
    }
    with pytest.raises(RuleError) as caught:
        parse_rule(bad, "rules.yaml", 0)
    problems = caught.value.problems
    assert all(p.startswith("rules.yaml: rule 'api-errors': field '") for p in problems), problems
    fields = sorted(p.split("field '")[1].split("'")[0] for p in problems)
    assert fields == ["colour", "for", "group_by", "no_data", "runbook_url", "threshold"]


def test_query_parameters_are_checked_per_type():
    with pytest.raises(RuleError) as caught:
        parse_rule({"name": "x", "threshold": 1, "query": {"type": "system_metric", "quantile": 0.5}}, "f.yaml", 0)
    assert caught.value.problems == [
        "f.yaml: rule 'x': field 'query.quantile': unknown for query type system_metric "
        "(known: metric_name, service, instance, aggregate)",
        "f.yaml: rule 'x': field 'query.metric_name': is required for query type system_metric",
    ]
    with pytest.raises(RuleError, match="query.type"):
        parse_rule({"name": "x", "threshold": 1, "query": {"type": "sql"}}, "f.yaml", 0)
    with pytest.raises(RuleError, match="'query.severity': 'urgent'"):
        parse_rule({"name": "x", "threshold": 1, "query": {"type": "security_events", "severity": "urgent"}}, "f", 0)


def test_a_nameless_rule_is_named_by_its_position():
    with pytest.raises(RuleError, match=r"^f.yaml: rule #2: field 'name'"):
        parse_document({"rules": [GOOD, {k: v for k, v in GOOD.items() if k != "name"}]}, "f.yaml")


def test_documents_refuse_duplicates_and_report_channels_and_rules_together():
    doc = {
        "channels": [{"name": "ops", "type": "webhook", "url": "not-a-url"}, {"name": "mail", "type": "email"}],
        "rules": [GOOD, GOOD],
    }
    with pytest.raises(RuleError) as caught:
        parse_document(doc, "f.yaml")
    assert caught.value.problems == [
        "f.yaml: channel 'ops': field 'url': required: an http(s) URL",
        "f.yaml: channel 'mail': field 'to': required: an address or a list of addresses",
        "f.yaml: rule 'api-errors' is defined more than once",
    ]


def test_channels_parse_with_their_secret_kept_apart():
    doc = parse_document(
        {"channels": [{"name": "ops", "type": "webhook", "url": "http://h/x", "secret": "s" * 20}]}, "f.yaml"
    )
    channel = doc.channels[0]
    assert channel.config == {"url": "http://h/x"}
    assert channel.secret == "s" * 20
    assert "secret" not in channel.to_dict()


def test_critical_threshold_raises_the_severity():
    rule = parse_rule({**GOOD, "severity": "warning", "critical_threshold": 20}, "f", 0)
    assert (rule.severity_for(6), rule.severity_for(25)) == ("warning", "critical")


def test_a_pagerduty_channel_needs_a_routing_key_unless_one_is_stored():
    wanted = parse_document({"channels": [{"name": "pager", "type": "pagerduty"}]}, "f.yaml")
    with pytest.raises(RuleError, match="f.yaml: channel 'pager': field 'secret': required"):
        diff(wanted, {}, {}, "f.yaml")
    stored = {"pager": Channel("pager", "pagerduty", {}, "routing-key-0000000")}
    assert [str(c) for c in diff(wanted, {}, stored, "f.yaml")] == ["= channel pager"]
