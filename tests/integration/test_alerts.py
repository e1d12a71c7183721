"""Alerting through the real stack: events -> collector -> Kafka -> pipeline -> warehouse -> the node's scheduler
evaluates the rules -> notifications to a real local HTTP receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import requests
import yaml
from aiosmtpd.controller import Controller

from access.audit import Actor
from access.errors import AccessError
from alerts import oncall
from alerts.evaluation import Evaluator
from alerts.messages import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from alerts.rules import parse_rule
from tests.integration.conftest import eventually, run_cli
from tests.integration.receivers import Receiver, running_receiver
from warehouse import postgres

pytestmark = pytest.mark.integration

SECRET = "test-hmac-secret-0123456789"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[float, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append((time.time(), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def about(self, text: str) -> list[Any]:
        return [m for _, m in self.messages if text in m["Subject"]]


@pytest.fixture(scope="module")
def mailbox(settings) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=settings.smtp_port)
    controller.start()
    yield box
    controller.stop()


def post(collector_url: str, key: str, events: list[dict]) -> float:
    """Send events through the collector; the time its 202 arrived."""
    r = requests.post(
        f"{collector_url}/v1/events",
        data=orjson.dumps(events),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 202 and r.json()["rejected"] == 0, r.text
    return time.time()


def cpu(service: str, value: float, instance: str = "i-1") -> dict:
    return {
        "kind": "system_metric",
        "timestamp": int(time.time() * 1000),
        "service": service,
        "instance": instance,
        "metric_type": "cpu",
        "metric_name": "cpu_percent",
        "value": value,
    }


def apply_rules(settings, tmp_path: Path, document: dict) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document))
    done = run_cli(settings, "rules", "apply", str(path))
    assert done.returncode == 0, done.stderr


def cpu_rule(name: str, service: str, channels: list[str], **overrides: Any) -> dict:
    return {
        "name": name,
        "description": "CPU above 80% on average",
        "query": {"type": "system_metric", "metric_name": "cpu_percent", "service": service},
        "group_by": ["instance"],
        "threshold": 80,
        "window": "1m",
        "interval": "2s",
        "renotify": "0s",
        "group_interval": "1s",
        "channels": channels,
        "runbook_url": "https://runbooks.example/cpu",
        **overrides,
    }


def hook(name: str, receiver: Receiver, path: str) -> dict:
    return {"name": name, "type": "webhook", "url": receiver.url(path), "secret": SECRET}


def timeline(settings, rule_name: str) -> list[str]:
    with postgres.connect(settings.postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT e.kind FROM alert_incident_events e JOIN alert_incidents i ON i.id = e.incident_id "
            "JOIN alert_rules r ON r.id = i.rule_id WHERE r.name = %s ORDER BY e.at, e.id",
            (rule_name,),
        ).fetchall()
    return [r["kind"] for r in rows]


def evaluations_since(settings, rule_name: str, since: float) -> bool:
    with postgres.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            "SELECT s.last_evaluated_at FROM alert_rule_state s JOIN alert_rules r ON r.id = s.rule_id "
            "WHERE r.name = %s",
            (rule_name,),
        ).fetchone()
    return row is not None and row["last_evaluated_at"] is not None and row["last_evaluated_at"].timestamp() > since


def test_a_breach_notifies_once_by_webhook_and_email_then_repeats_then_resolves(
    settings, collector_url, ingest_key, node, receiver, mailbox, tmp_path
):
    uid = uuid.uuid4().hex[:8]
    service, rule = f"alert-{uid}", f"cpu-hot-{uid}"
    path = f"/hook/{uid}"
    apply_rules(
        settings,
        tmp_path,
        {
            "channels": [
                hook(f"hook-{uid}", receiver, path),
                {"name": f"mail-{uid}", "type": "email", "to": ["oncall@example.com"]},
            ],
            "rules": [cpu_rule(rule, service, [f"hook-{uid}", f"mail-{uid}"], renotify="8s")],
        },
    )
    accepted_at = post(collector_url, ingest_key, [cpu(service, 95.0)])

    first = eventually(lambda: receiver.to(path), timeout_s=30)[0]
    assert first.at - accepted_at <= 2 + 5, f"notified {first.at - accepted_at:.1f}s after the 202"
    assert verify_signature(
        SECRET, first.headers[TIMESTAMP_HEADER], first.body, first.headers[SIGNATURE_HEADER], time.time()
    )
    assert not verify_signature("another-secret-000000", first.headers[TIMESTAMP_HEADER], first.body,
                                first.headers[SIGNATURE_HEADER], time.time())  # fmt: skip
    body = first.json
    assert (body["kind"], body["status"], body["rule"]["name"]) == ("firing", "firing", rule)
    assert [(a["group_key"], a["value"], a["status"]) for a in body["alerts"]] == [
        ({"instance": "i-1"}, 95.0, "firing")
    ]
    assert body["rule"]["runbook_url"] == "https://runbooks.example/cpu"
    assert body["link"].startswith(settings.public_url)

    mail = eventually(lambda: mailbox.about(rule), timeout_s=10)
    assert len(mail) == 1 and mail[0]["Subject"].startswith("[FIRING:1]")
    assert mail[0]["To"] == "oncall@example.com"
    text = mail[0].get_body(preferencelist=("plain",)).get_content()
    html = mail[0].get_body(preferencelist=("html",)).get_content()
    assert 'instance="i-1"' in text and "95" in text and "Runbook: https://runbooks.example/cpu" in text
    assert "<table>" in html and "instance=&quot;i-1&quot;" in html

    # Re-notified after the interval (8 s), and only then.
    repeat = eventually(lambda: [r for r in receiver.to(path) if r.json["kind"] == "repeat"], timeout_s=20)[0]
    assert 8 <= repeat.at - first.at <= 8 + 4
    assert [r.json["kind"] for r in receiver.to(path)[:2]] == ["firing", "repeat"]

    # The condition clears: a resolve notification, by both channels.
    post(collector_url, ingest_key, [cpu(service, 10.0) for _ in range(20)])
    resolved = eventually(lambda: [r for r in receiver.to(path) if r.json["status"] == "resolved"], timeout_s=30)
    assert resolved[0].json["alerts"][0]["status"] == "resolved"
    eventually(lambda: [m for m in mailbox.about(rule) if m["Subject"].startswith("[RESOLVED]")], timeout_s=10)
    assert [r.json["kind"] for r in receiver.to(path)].count("firing") == 1

    kinds = timeline(settings, rule)
    assert kinds[0] == "firing" and "resolved" in kinds
    assert kinds.count("notified") >= 4  # firing, repeat and resolved, by webhook and email
    with postgres.connect(settings.postgres_dsn) as conn:
        incident = conn.execute(
            "SELECT status, resolved_at FROM alert_incidents WHERE fingerprint = %s",
            (body["alerts"][0]["fingerprint"],),
        ).fetchone()
    assert incident["status"] == "resolved" and incident["resolved_at"] is not None


def _open_incident(settings, rule_name: str) -> dict | None:
    with postgres.connect(settings.postgres_dsn) as conn:
        return conn.execute(
            "SELECT i.id, i.status FROM alert_incidents i JOIN alert_rules r ON r.id = i.rule_id "
            "WHERE r.name = %s AND i.resolved_at IS NULL AND i.status = 'firing'",
            (rule_name,),
        ).fetchone()


def test_an_acknowledged_incident_stays_quiet_until_it_resolves_and_pagerduty_follows_it(
    settings, collector_url, ingest_key, node, receiver, tmp_path
):
    uid = uuid.uuid4().hex[:8]
    service, rule, path, pd_path = f"alert-{uid}", f"cpu-ack-{uid}", f"/hook/{uid}", f"/pagerduty/{uid}"
    pagerduty = {"name": f"pd-{uid}", "type": "pagerduty", "url": receiver.url(pd_path), "secret": "routing-key-000000"}
    apply_rules(settings, tmp_path, {"channels": [hook(f"hook-{uid}", receiver, path), pagerduty],
                                      "rules": [cpu_rule(rule, service, [f"hook-{uid}", f"pd-{uid}"],
                                                         renotify="3s")]})  # fmt: skip
    post(collector_url, ingest_key, [cpu(service, 99.0)])
    eventually(lambda: receiver.to(path), timeout_s=30)
    trigger = eventually(lambda: receiver.to(pd_path), timeout_s=10)[0].json
    assert (trigger["event_action"], trigger["routing_key"]) == ("trigger", "routing-key-000000")
    incident = eventually(lambda: _open_incident(settings, rule))
    oncall.acknowledge(settings, incident["id"], Actor("alice"))
    acked_at = time.time()
    with pytest.raises(oncall.OnCallError, match="not firing unacknowledged"):
        oncall.acknowledge(settings, incident["id"], Actor("bob"))
    # PagerDuty hears of the acknowledgement, on the same dedup key.
    acknowledged = eventually(lambda: [r.json for r in receiver.to(pd_path) if r.json["event_action"] == "acknowledge"])
    assert acknowledged[0]["dedup_key"] == trigger["dedup_key"]
    # Three renotify intervals of evaluations after the acknowledgement...
    eventually(lambda: evaluations_since(settings, rule, acked_at + 9), timeout_s=20)
    # ...and no repeat sent after it (one may have been on its way when alice acknowledged).
    assert [r for r in receiver.to(path) if r.at > acked_at + 1] == []
    assert "acknowledge" in timeline(settings, rule)
    with postgres.connect(settings.postgres_dsn) as conn:
        audited = conn.execute(
            "SELECT admin_id FROM admin_audit_logs WHERE action = 'alert_incident.acknowledge' AND resource_id = %s "
            "AND outcome = 'success'",
            (str(incident["id"]),),
        ).fetchall()
    assert audited == [{"admin_id": "alice"}]
    post(collector_url, ingest_key, [cpu(service, 1.0) for _ in range(30)])
    eventually(lambda: [r for r in receiver.to(path) if r.json["status"] == "resolved"], timeout_s=30)
    resolved = eventually(lambda: [r.json for r in receiver.to(pd_path) if r.json["event_action"] == "resolve"])
    assert resolved[0]["dedup_key"] == trigger["dedup_key"]


def test_a_silence_suppresses_notifications_and_the_alert_is_announced_when_it_ends(
    settings, collector_url, ingest_key, node, receiver, tmp_path
):
    uid = uuid.uuid4().hex[:8]
    service, rule, path = f"alert-{uid}", f"cpu-silenced-{uid}", f"/hook/{uid}"
    apply_rules(settings, tmp_path, {"channels": [hook(f"hook-{uid}", receiver, path)],
                                      "rules": [cpu_rule(rule, service, [f"hook-{uid}"])]})  # fmt: skip
    with pytest.raises(AccessError, match="at least one matcher"):
        oncall.silence(settings, {}, 12, Actor("bob"))
    ends = time.time() + 12
    oncall.silence(settings, {"rule": rule, "instance": "i-1"}, 12, Actor("bob"), "maintenance")
    post(collector_url, ingest_key, [cpu(service, 99.0)])
    eventually(lambda: "silenced" in timeline(settings, rule), timeout_s=30)
    assert receiver.to(path) == []
    first = eventually(lambda: receiver.to(path), timeout_s=30)[0]
    assert first.at >= ends
    assert first.json["kind"] == "firing"
    assert "unsilenced" in timeline(settings, rule)


def test_a_failing_channel_is_retried_and_a_hanging_one_delays_no_other(
    settings, collector_url, ingest_key, node, receiver, tmp_path
):
    uid = uuid.uuid4().hex[:8]
    service, rule = f"alert-{uid}", f"cpu-channels-{uid}"
    fast, failing, slow = f"/fast/{uid}", f"/fail/{uid}", f"/slow/{uid}"
    receiver.failures_left[failing] = 2
    channels = [hook(f"fast-{uid}", receiver, fast), hook(f"fail-{uid}", receiver, failing),
                hook(f"slow-{uid}", receiver, slow)]  # fmt: skip
    apply_rules(settings, tmp_path, {"channels": channels,
                                      "rules": [cpu_rule(rule, service, [c["name"] for c in channels])]})  # fmt: skip
    accepted_at = post(collector_url, ingest_key, [cpu(service, 97.0)])

    fast_at = eventually(lambda: receiver.to(fast), timeout_s=30)[0].at
    assert fast_at - accepted_at <= 2 + 5
    ok = eventually(lambda: len(receiver.to(failing)) >= 3 and receiver.to(failing), timeout_s=30)
    assert len(ok) == 3  # 500, 500, then 200: not sent again
    eventually(lambda: len(receiver.to(slow)) >= 2, timeout_s=30)  # timed out, retried
    with postgres.connect(settings.postgres_dsn) as conn:
        attempts = conn.execute(
            "SELECT c.name, a.attempt, a.ok, a.status_code, a.error FROM alert_notification_attempts a "
            "JOIN alert_notifications n ON n.id = a.notification_id JOIN alert_channels c ON c.id = n.channel_id "
            "WHERE c.name = ANY(%s) ORDER BY c.name, a.attempt",
            ([f"fast-{uid}", f"fail-{uid}", f"slow-{uid}"],),
        ).fetchall()
    by_channel = {}
    for a in attempts:
        by_channel.setdefault(a["name"], []).append((a["attempt"], a["ok"], a["status_code"]))
    assert by_channel[f"fast-{uid}"] == [(1, True, 200)]
    assert by_channel[f"fail-{uid}"] == [(1, False, 500), (2, False, 500), (3, True, 200)]
    slow_attempts = [a for a in attempts if a["name"] == f"slow-{uid}"]
    assert slow_attempts[0]["ok"] is False and "no answer within 2s" in slow_attempts[0]["error"]


def test_several_schedulers_evaluating_together_send_one_notification(
    settings, collector_url, ingest_key, node, receiver, tmp_path
):
    """The node's scheduler plus three more evaluators racing on every tick: one firing message."""
    uid = uuid.uuid4().hex[:8]
    rule, path = f"failed-logins-{uid}", f"/hook/{uid}"
    ip = f"203.0.113.{int(uid[:2], 16) % 250 + 1}"
    apply_rules(
        settings,
        tmp_path,
        {
            "channels": [hook(f"hook-{uid}", receiver, path)],
            "rules": [{
                "name": rule, "query": {"type": "security_events", "event_type": [f"failed_login_{uid}"]},
                "group_by": ["ip_address"], "threshold": 3, "comparator": ">=", "window": "5m", "interval": "1s",
                "renotify": "0s", "channels": [f"hook-{uid}"],
            }],
        },
    )  # fmt: skip
    client = redis.Redis.from_url(settings.redis_url)
    racers = [Evaluator(settings, client, owner=f"racer-{i}") for i in range(3)]
    stop = threading.Event()
    evaluated: list[int] = []

    def race(evaluator: Evaluator) -> None:
        while not stop.is_set():
            evaluated.append(evaluator.evaluate_due())
            time.sleep(0.05)

    threads = [threading.Thread(target=race, args=(e,)) for e in racers]
    for t in threads:
        t.start()
    try:
        events = [
            {"kind": "security_event", "timestamp": int(time.time() * 1000), "service": "auth", "event_type":
             f"failed_login_{uid}", "severity": "medium", "ip_address": ip}
            for _ in range(5)
        ]  # fmt: skip
        post(collector_url, ingest_key, events)
        eventually(lambda: receiver.to(path), timeout_s=30)
        started = time.time()
        eventually(lambda: evaluations_since(settings, rule, started + 5), timeout_s=20)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert sum(evaluated) > 0  # the racers did win some rounds
    sent = receiver.to(path)
    assert [r.json["kind"] for r in sent] == ["firing"]
    assert sent[0].json["alerts"][0]["group_key"] == {"ip_address": ip}


def test_a_stale_lease_holder_cannot_write_state(settings, tmp_path):
    """Fencing: after a newer holder wrote, a write carrying an older token is refused."""
    uid = uuid.uuid4().hex[:8]
    rule_name = f"fenced-{uid}"
    # A day's interval keeps the node's scheduler to one evaluation (a disabled rule would be refused: a rule
    # disabled mid-evaluation writes nothing); the clock below jumps ahead so the rule is due.
    apply_rules(settings, tmp_path, {"rules": [{"name": rule_name, "query": {"type": "security_events",
                "event_type": [f"none_{uid}"]}, "threshold": 1, "interval": "1d"}]})  # fmt: skip
    with postgres.connect(settings.postgres_dsn) as conn:
        row = conn.execute("SELECT id, name, definition FROM alert_rules WHERE name = %s", (rule_name,)).fetchone()
    rule = parse_rule(row["definition"], "test", 0)
    client = redis.Redis.from_url(settings.redis_url)
    clock = [time.time() + 2 * 86400]
    stale = Evaluator(settings, client, clock=lambda: clock[0], owner="stale")
    fresh = Evaluator(settings, client, clock=lambda: clock[0], owner="fresh")
    assert fresh._evaluate(row["id"], rule, token=10) is True
    clock[0] += 86400 + 5  # due again
    assert stale._evaluate(row["id"], rule, token=9) is False
    with postgres.connect(settings.postgres_dsn) as conn:
        state = conn.execute(
            "SELECT fencing_token, evaluated_by FROM alert_rule_state WHERE rule_id = %s", (row["id"],)
        ).fetchone()
    assert state == {"fencing_token": 10, "evaluated_by": "fresh"}
    assert fresh._evaluate(row["id"], rule, token=11) is True
