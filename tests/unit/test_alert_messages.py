"""What notifications say per channel type, the webhook signature, and which failures are retried."""

from __future__ import annotations

import random

from alerts.delivery import backoff_s
from alerts.engine import AlertView, Notice
from alerts.messages import (
    build_payload,
    email_message,
    pagerduty_events,
    sign,
    slack_body,
    subject,
    verify_signature,
)
from alerts.rules import Query, Rule

RULE = Rule(
    name="api-errors",
    query=Query("log_count", {"service": "payments", "level": ["error"]}),
    threshold=10,
    description="Too many <errors> & co",
    runbook_url="https://runbooks.example/api",
)
FIRING = AlertView("fp1", {"service": "payments"}, "firing", 42.0, "critical", 1_700_000_000.0)
RESOLVED = AlertView("fp2", {"service": "ledger"}, "resolved", 3.0, "warning", 1_700_000_100.0)


def payload(kind: str = "firing") -> dict:
    return build_payload(RULE, Notice(kind, (FIRING,), (RESOLVED,)), 1_700_000_200.0, "https://lookout.example")


def test_the_payload_carries_rule_values_group_keys_link_and_runbook():
    body = payload()
    assert body["version"] == "1" and body["kind"] == "firing" and body["status"] == "firing"
    assert [(a["group_key_text"], a["value"], a["status"]) for a in body["alerts"]] == [
        ('{service="payments"}', 42.0, "firing"),
        ('{service="ledger"}', 3.0, "resolved"),
    ]
    assert body["alerts"][0]["since"] == "2023-11-14T22:13:20Z"
    assert body["link"] == "https://lookout.example/api/v1/logs?service=payments&level=error"
    assert body["rule"]["runbook_url"] == "https://runbooks.example/api"


def test_signatures_verify_only_with_the_secret_the_body_and_a_recent_timestamp():
    body = b'{"a":1}'
    signature = sign("s3cret-key-000000", 1000, body)
    assert signature.startswith("sha256=")
    assert verify_signature("s3cret-key-000000", "1000", body, signature, now=1100)
    assert not verify_signature("another-key-000000", "1000", body, signature, now=1100)
    assert not verify_signature("s3cret-key-000000", "1000", b'{"a":2}', signature, now=1100)
    assert not verify_signature("s3cret-key-000000", "1000", body, signature, now=1000 + 301)  # replayed later
    assert not verify_signature("s3cret-key-000000", "1001", body, signature, now=1100)  # timestamp swapped


def test_email_has_a_text_and_an_escaped_html_part():
    message = email_message(payload(), "lookout@example.com", ["a@example.com", "b@example.com"])
    assert message["Subject"] == "[FIRING:1] api-errors (warning), 1 resolved"
    assert message["To"] == "a@example.com, b@example.com"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert '- FIRING {service="payments"}: 42' in text and "Runbook: https://runbooks.example/api" in text
    assert "Too many &lt;errors&gt; &amp; co" in html and "<errors>" not in html


def test_a_resolved_only_message_says_so():
    body = build_payload(RULE, Notice("resolved", (), (RESOLVED,)), 0, "http://x")
    assert subject(body) == "[RESOLVED] api-errors (warning)"
    assert slack_body(body)["text"].startswith("[RESOLVED] api-errors")


def test_pagerduty_gets_one_event_per_alert_deduplicated_on_the_fingerprint():
    events = pagerduty_events(payload(), "routing-key-0000000")
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [("trigger", "fp1"), ("resolve", "fp2")]
    trigger = events[0]
    assert trigger["routing_key"] == "routing-key-0000000"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "lookout"
    assert [link["text"] for link in trigger["links"]] == ["Lookout", "Runbook"]
    assert "payload" not in events[1]
    acknowledged = pagerduty_events({**payload("acknowledge"), "alerts": payload()["alerts"][:1]}, "k" * 16)
    assert [(e["event_action"], e["dedup_key"]) for e in acknowledged] == [("acknowledge", "fp1")]


def test_backoff_is_capped_exponential_with_full_jitter():
    upper = lambda lo, hi: hi  # noqa: E731 - the jitter's upper bound
    assert [backoff_s(n, 2, 30, upper) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    rng = random.Random(1)
    assert all(0 <= backoff_s(5, 2, 30, rng.uniform) <= 30 for _ in range(100))
