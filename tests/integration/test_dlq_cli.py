"""`lookout dlq list` shows a poison event with its reason; `lookout dlq replay` brings the fixed one home."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from kafka import KafkaProducer

from tests.integration.conftest import eventually, run_cli
from warehouse import clickhouse

pytestmark = pytest.mark.integration


def test_poison_event_is_listed_with_its_reason_and_replays_once_fixed(settings, node, tmp_path):
    service = f"dlq-{uuid.uuid4().hex[:6]}"
    now = int(time.time() * 1000)
    good = {
        "kind": "log",
        "event_id": str(uuid.uuid4()),
        "ts": now,
        "service": service,
        "instance": "",
        "level": "info",
        "message": "fine",
    }
    poison = {**good, "event_id": str(uuid.uuid4()), "message": "bad status", "status_code": 70_000}
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(settings.topic("log"), key=service.encode(), value=orjson.dumps([good, poison])).get(timeout=30)
    producer.close()

    client = clickhouse.connect(settings.clickhouse_dsn)

    def messages():
        rows = client.query(
            "SELECT message FROM logs FINAL WHERE service = {s:String} ORDER BY message", parameters={"s": service}
        ).result_rows
        return [r[0] for r in rows]

    assert eventually(messages) == ["fine"]  # the batch-mate of the poison event was written

    def listed():
        result = run_cli(settings, "dlq", "list", "--limit", "1000", text=False)
        assert result.returncode == 0, result.stderr
        return service.encode() in result.stdout and result.stdout.decode()

    text = eventually(listed, timeout_s=30)
    assert "rejected by logs: status_code: out of range for the column (0 to 65535)" in text
    assert f"{settings.topic('log')}[" in text

    exported = run_cli(settings, "dlq", "list", "--json", "--limit", "1000", text=False)
    lines = [orjson.loads(line) for line in exported.stdout.splitlines() if service.encode() in line]
    assert [line["event_id"] for line in lines] == [poison["event_id"]]
    fixed = {**lines[0], "status_code": 500}
    broken = {"kind": "log", "service": service}  # no timestamp, no level: must be refused, not sent
    replay_input = orjson.dumps(fixed) + b"\n" + orjson.dumps(broken) + b"\n"
    result = run_cli(settings, "dlq", "replay", "-", stdin=replay_input, text=False)
    assert result.returncode == 1  # one line was skipped
    assert b"replayed 1 event(s), skipped 1" in result.stdout
    assert b"line 2:" in result.stderr

    assert eventually(lambda: messages() == ["bad status", "fine"])


def test_replay_of_a_missing_file_is_a_one_line_error(settings):
    result = run_cli(settings, "dlq", "replay", "/nonexistent/fixed.ndjson", text=False)
    assert result.returncode == 1
    assert result.stderr.decode().startswith("lookout dlq:")
    assert b"Traceback" not in result.stderr
