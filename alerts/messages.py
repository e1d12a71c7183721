"""What a notification says, and how each channel type carries it. Pure: no I/O.

The generic webhook body (version 1) is the payload itself, as JSON:

    {"version": "1", "kind": "firing|repeat|resolved|acknowledge|test", "status": "firing|resolved",
     "rule": {"name", "description", "severity", "labels", "query", "comparator", "threshold",
              "critical_threshold", "window_s", "runbook_url"},
     "alerts": [{"fingerprint", "group_key", "group_key_text", "status", "value", "severity", "since"}],
     "link": "<dashboards URL for the rule's data>", "sent_at": "<RFC 3339>"}

It is signed: ``X-Lookout-Timestamp`` (Unix seconds) and
``X-Lookout-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the channel's secret>``.
A receiver recomputes it (:func:`verify_signature`) and refuses timestamps
older than a few minutes, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from alerts.engine import AlertView, Notice
from alerts.rules import Rule

SIGNATURE_HEADER = "X-Lookout-Signature"
TIMESTAMP_HEADER = "X-Lookout-Timestamp"
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def link_for(rule: Rule, public_url: str, group_key: Mapping[str, str] | None = None) -> str:
    """Where to look: the log API for log rules (the explorer once it lands), otherwise the rule's page."""
    params = {k: v for k, v in {**dict(rule.query.params), **dict(group_key or {})}.items() if isinstance(v, str)}
    if rule.query.type == "log_count":
        query = {k: v for k, v in params.items() if k in ("service", "text")}
        levels = rule.query.params.get("level")
        if levels:
            query["level"] = ",".join(levels)
        return f"{public_url}/api/v1/logs?{urlencode(query)}"
    return f"{public_url}/alerts/rules/{rule.name}"


def build_payload(rule: Rule, notice: Notice, now: float, public_url: str) -> dict[str, Any]:
    def alert(view: AlertView) -> dict[str, Any]:
        return {
            "fingerprint": view.fingerprint,
            "group_key": dict(view.group_key),
            "group_key_text": view.group_key_text,
            "status": view.status,
            "value": view.value,
            "severity": view.severity or rule.severity,
            "since": _iso(view.since),
        }

    return {
        "version": "1",
        "kind": notice.kind,
        "status": "firing" if notice.firing else "resolved",
        "rule": {
            "name": rule.name,
            "description": rule.description,
            "severity": rule.severity,
            "labels": dict(rule.labels),
            "query": {"type": rule.query.type, **dict(rule.query.params)},
            "comparator": rule.comparator,
            "threshold": rule.threshold,
            "critical_threshold": rule.critical_threshold,
            "window_s": rule.window_s,
            "runbook_url": rule.runbook_url,
        },
        "alerts": [alert(a) for a in (*notice.firing, *notice.resolved)],
        "link": link_for(rule, public_url),
        "sent_at": _iso(now),
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance_s: int = 300
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent (no replay)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def _value(value: Any) -> str:
    return "no value" if value is None else f"{value:g}" if isinstance(value, int | float) else str(value)


def subject(payload: Mapping[str, Any]) -> str:
    rule = payload["rule"]
    firing = [a for a in payload["alerts"] if a["status"] == "firing"]
    resolved = [a for a in payload["alerts"] if a["status"] != "firing"]
    if payload["kind"] == "test":
        return f"[TEST] Lookout test notification for {rule['name']}"
    state = f"FIRING:{len(firing)}" if firing else "RESOLVED"
    extra = f", {len(resolved)} resolved" if firing and resolved else ""
    return f"[{state}] {rule['name']} ({rule['severity']}){extra}"


def text_body(payload: Mapping[str, Any]) -> str:
    rule = payload["rule"]
    lines = [subject(payload), "", rule["description"] or rule["name"], ""]
    condition = f"value {rule['comparator']} {rule['threshold']:g} over {rule['window_s']}s"
    lines.append(f"Condition: {condition}")
    for a in payload["alerts"]:
        lines.append(f"- {a['status'].upper()} {a['group_key_text']}: {_value(a['value'])} (since {a['since']})")
    lines += ["", f"Open: {payload['link']}"]
    if rule["runbook_url"]:
        lines.append(f"Runbook: {rule['runbook_url']}")
    return "\n".join(lines) + "\n"


def html_body(payload: Mapping[str, Any]) -> str:
    rule = payload["rule"]
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(a['status'])}</td><td>{e(a['group_key_text'])}</td><td>{e(_value(a['value']))}</td>"
        f"<td>{e(str(a['since']))}</td></tr>"
        for a in payload["alerts"]
    )
    runbook = f'<p><a href="{e(rule["runbook_url"])}">Runbook</a></p>' if rule["runbook_url"] else ""
    return (
        f"<html><body><h2>{e(subject(payload))}</h2><p>{e(rule['description'] or rule['name'])}</p>"
        f"<p>Condition: value {e(rule['comparator'])} {rule['threshold']:g} over {rule['window_s']}s</p>"
        f"<table><tr><th>status</th><th>group</th><th>value</th><th>since</th></tr>{rows}</table>"
        f'<p><a href="{e(payload["link"])}">Open in Lookout</a></p>{runbook}</body></html>'
    )


def email_message(payload: Mapping[str, Any], sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject(payload)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(text_body(payload))
    message.add_alternative(html_body(payload), subtype="html")
    return message


def slack_body(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming webhook message (also accepted by Mattermost, Rocket.Chat...)."""
    return {"text": text_body(payload)}


_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def pagerduty_events(payload: Mapping[str, Any], routing_key: str) -> list[dict[str, Any]]:
    """One Events API v2 event per alert, deduplicated on the incident's fingerprint."""
    rule = payload["rule"]
    events = []
    for a in payload["alerts"]:
        event: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": "resolve"
            if a["status"] != "firing"
            else ("acknowledge" if payload["kind"] == "acknowledge" else "trigger"),
            "dedup_key": a["fingerprint"],
        }
        if event["event_action"] == "trigger":
            event["payload"] = {
                "summary": f"{rule['name']} {a['group_key_text']}: {_value(a['value'])}"[:1024],
                "source": "lookout",
                "severity": _PD_SEVERITY.get(a["severity"], "warning"),
                "custom_details": {"rule": rule, "alert": a},
            }
            event["links"] = [{"href": payload["link"], "text": "Lookout"}]
            if rule["runbook_url"]:
                event["links"].append({"href": rule["runbook_url"], "text": "Runbook"})
        events.append(event)
    return events


def test_payload(channel_name: str, now: float, public_url: str) -> dict[str, Any]:
    """A message of the usual shape that says it is a test ("Send test notification")."""
    return {
        "version": "1",
        "kind": "test",
        "status": "firing",
        "rule": {
            "name": f"test-{channel_name}",
            "description": f"A test notification for channel {channel_name}: nothing is wrong.",
            "severity": "info",
            "labels": {},
            "query": {},
            "comparator": ">",
            "threshold": 0,
            "critical_threshold": None,
            "window_s": 0,
            "runbook_url": "",
        },
        "alerts": [
            {
                "fingerprint": "test",
                "group_key": {},
                "group_key_text": "{}",
                "status": "firing",
                "value": 1,
                "severity": "info",
                "since": _iso(now),
            }
        ],
        "link": public_url,
        "sent_at": _iso(now),
    }
