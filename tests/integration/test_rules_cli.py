"""`lookout rules apply/export/test` as an operator runs them, against the test stack's PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from alerts.messages import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from app.stack.base import find_free_port
from tests.integration.conftest import run_cli
from warehouse import postgres

pytestmark = pytest.mark.integration


def write(tmp_path: Path, document: dict, name: str = "rules.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def rule(name: str, threshold: float = 5) -> dict:
    return {
        "name": name,
        "query": {"type": "log_count", "service": "payments", "level": ["error"]},
        "threshold": threshold,
        "window": "5m",
        "for": "1m",
        "channels": [],
    }


def audit_rows(settings, name: str) -> list[dict]:
    with postgres.connect(settings.postgres_dsn) as conn:
        return conn.execute(
            "SELECT a.action, a.admin_id, a.old_values, a.new_values FROM admin_audit_logs a "
            "JOIN alert_rules r ON a.resource_type = 'alert_rule' AND a.resource_id = r.id::text "
            "WHERE r.name = %s ORDER BY a.timestamp",
            (name,),
        ).fetchall()


def test_apply_shows_a_diff_is_idempotent_and_audits_each_change(settings, tmp_path):
    name = f"errors-{uuid.uuid4().hex[:8]}"
    path = write(tmp_path, {"rules": [rule(name)]})

    dry = run_cli(settings, "rules", "apply", path, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"+ rule {name} (create)" in dry.stdout and "nothing was applied" in dry.stdout
    assert audit_rows(settings, name) == []

    first = run_cli(settings, "rules", "apply", path)
    assert first.returncode == 0, first.stderr
    assert "applied: 1 to create, 0 to update, 0 unchanged" in first.stdout
    again = run_cli(settings, "rules", "apply", path)
    assert f"= rule {name}" in again.stdout and "0 to create, 0 to update, 1 unchanged" in again.stdout

    changed = run_cli(settings, "rules", "apply", write(tmp_path, {"rules": [rule(name, threshold=9)]}, "v2.yaml"))
    assert changed.returncode == 0, changed.stderr
    assert f"~ rule {name} (update)\n    threshold: 5.0 -> 9.0" in changed.stdout

    audits = audit_rows(settings, name)
    assert [a["action"] for a in audits] == ["alert_rule.create", "alert_rule.update"]
    assert audits[1]["old_values"]["threshold"] == 5.0 and audits[1]["new_values"]["threshold"] == 9.0
    assert audits[0]["admin_id"].startswith("cli:")


def test_invalid_files_name_file_rule_and_field_and_change_nothing(settings, tmp_path):
    name = f"bad-{uuid.uuid4().hex[:8]}"
    good = rule(f"good-{uuid.uuid4().hex[:8]}")
    path = write(tmp_path, {"rules": [good, {**rule(name), "for": "soon", "query": {"type": "sql"}}]})
    done = run_cli(settings, "rules", "apply", path)
    assert done.returncode == 1
    assert f"{path}: rule '{name}': field 'query.type': 'sql' is not one of" in done.stderr
    assert f"{path}: rule '{name}': field 'for': 'soon' is not a duration" in done.stderr
    assert "Traceback" not in done.stderr
    unknown_channel = run_cli(settings, "rules", "apply", write(tmp_path, {"rules": [{**good, "channels": ["pager"]}]}))
    assert unknown_channel.returncode == 1
    assert f"rule '{good['name']}': field 'channels': unknown channel 'pager'" in unknown_channel.stderr
    assert audit_rows(settings, good["name"]) == []
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    assert "not valid YAML" in run_cli(settings, "rules", "apply", str(broken)).stderr


def test_export_includes_the_builtin_rules_hides_secrets_and_applies_back_unchanged(settings, tmp_path):
    secret = "hook-secret-" + uuid.uuid4().hex
    channel = {
        "name": f"ops-{uuid.uuid4().hex[:8]}",
        "type": "webhook",
        "url": "http://127.0.0.1:9/x",
        "secret": secret,
    }
    pager = {"name": f"pager-{uuid.uuid4().hex[:8]}", "type": "pagerduty", "secret": "routing-" + uuid.uuid4().hex}
    assert run_cli(settings, "rules", "apply", write(tmp_path, {"channels": [channel, pager]})).returncode == 0
    exported = run_cli(settings, "rules", "export")
    assert exported.returncode == 0, exported.stderr
    assert secret not in exported.stdout and pager["secret"] not in exported.stdout
    document = yaml.safe_load(exported.stdout)
    names = {r["name"] for r in document["rules"]}
    assert {
        "api-error-rate-high", "api-latency-p95-high", "security-critical-burst", "failed-logins-one-ip",
        "service-silent", "collector-rejecting-events", "pipeline-lag-growing", "dead-letters-appearing",
    } <= names  # fmt: skip
    back = run_cli(settings, "rules", "apply", write(tmp_path, document, "exported.yaml"))
    assert back.returncode == 0, back.stderr
    assert "0 to create, 0 to update" in back.stdout
    with postgres.connect(settings.postgres_dsn) as conn:
        stored = conn.execute("SELECT secret FROM alert_channels WHERE name = %s", (channel["name"],)).fetchone()
    assert stored["secret"] == secret  # an export (no secret) applied back keeps the stored one


def test_rules_test_sends_a_signed_test_notification(settings, tmp_path):
    received: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    port = find_free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        secret = "test-secret-" + uuid.uuid4().hex
        name = f"test-hook-{uuid.uuid4().hex[:8]}"
        channel = {"name": name, "type": "webhook", "url": f"http://127.0.0.1:{port}/t", "secret": secret}
        assert run_cli(settings, "rules", "apply", write(tmp_path, {"channels": [channel]})).returncode == 0
        done = run_cli(settings, "rules", "test", name)
        assert done.returncode == 0, done.stderr
        assert f"{name}: delivered (204)" in done.stdout
        missing = run_cli(settings, "rules", "test", "no-such-channel")
        assert missing.returncode == 1 and "no channel named 'no-such-channel'" in missing.stdout
    finally:
        server.shutdown()
    headers, body = received[0]
    assert json.loads(body)["kind"] == "test"
    assert verify_signature(
        secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], float(headers[TIMESTAMP_HEADER])
    )
