"""ClickHouse parses wire-form events itself (warehouse/queries/inserts.py): the rows it stores, what it refuses.

These go through the real sink into the real engine (the session's chDB), one service per test.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from lookout.contract import validate_event
from lookout.records import encode_events, json_rows
from pipeline.dlq import read_dead_letters
from pipeline.sinks import ClickHouseSink, SinkRejected
from tests.integration.conftest import eventually
from warehouse import clickhouse
from warehouse.tables import TABLES

pytestmark = pytest.mark.integration


@pytest.fixture()
def service() -> str:
    return f"ingest-{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def sink(settings):
    sink = ClickHouseSink(settings.clickhouse_dsn, 30, {"ingest-long": 400})
    yield sink
    sink.close()


def _rows(settings, table: str, service: str, columns: str) -> list[tuple[Any, ...]]:
    client = clickhouse.connect(settings.clickhouse_dsn)
    try:
        return client.query(
            f"SELECT {columns} FROM {table} FINAL WHERE service = {{s:String}} ORDER BY timestamp, event_id",
            parameters={"s": service},
        ).result_rows
    finally:
        client.close()


def _wire(raw: dict[str, Any], now_ms: int) -> bytes:
    """The collector's encoding of one contract-valid event."""
    return orjson.dumps(validate_event(raw, now_ms).to_json_dict())


def test_collector_records_become_rows_with_the_documented_values(settings, sink, service):
    now = int(time.time() * 1000)
    events = [
        {
            "kind": "log",
            "event_id": str(uuid.uuid4()),
            "timestamp": now - 1000,
            "service": service,
            "level": "error",
            "message": 'it broke: ünïcode, "quotes" and \\ backslashes',
            "status_code": 503,
            "response_time_ms": 12.5,
            "request_size_bytes": 2**63 - 1,
            "metadata": {"region": "eu", "tries": [1, 2], "nested": {"ok": True}},
            "request_data": [1, "a", None],
        },
        {"kind": "log", "timestamp": now, "service": service, "level": "info", "message": "minimal"},
    ]
    records = list(encode_events([_wire(e, now) for e in events]))
    sink.write(TABLES["log"], [json_rows(r.value) for r in records], "")

    rows = _rows(
        settings,
        "logs",
        service,
        "timestamp, level, message, status_code, response_time_ms, request_size_bytes, response_size_bytes, "
        "metadata, request_data, response_data, error_code, retention_days",
    )
    first, second = rows
    assert first == (
        datetime.fromtimestamp((now - 1000) / 1000, UTC).replace(tzinfo=None),
        "error",
        events[0]["message"],
        503,
        12.5,
        2**63 - 1,
        None,
        '{"region":"eu","tries":[1,2],"nested":{"ok":true}}',
        '[1,"a",null]',
        "",  # absent
        "",
        30,
    )
    assert second[3:8] == (None, None, None, None, "")  # absent optional fields: NULL or empty
    assert second[-1] == 30


def test_retention_comes_from_the_service_overrides(settings, sink):
    service = "ingest-long"
    now = int(time.time() * 1000)
    metric = {
        "kind": "system_metric",
        "timestamp": now,
        "service": service,
        "metric_type": "cpu",
        "metric_name": "cpu",
        "value": 1,
    }
    event = _wire(metric, now)
    sink.write(TABLES["system_metric"], [event], "")
    assert _rows(settings, "system_metrics", service, "retention_days")[-1] == (400,)


def test_a_repeated_insert_with_the_same_token_is_dropped(settings, sink, service):
    now = int(time.time() * 1000)
    events = [_wire({"kind": "log", "timestamp": now, "service": service, "level": "info", "message": "x"}, now)]
    sink.write(TABLES["log"], events, f"token-{service}")
    sink.write(TABLES["log"], events, f"token-{service}")
    client = clickhouse.connect(settings.clickhouse_dsn)
    try:
        raw = client.query("SELECT count() FROM logs WHERE service = {s:String}", parameters={"s": service})
    finally:
        client.close()
    assert raw.result_rows[0][0] == 1  # without FINAL: the second insert never happened


def _base(service: str) -> dict[str, Any]:
    return {"kind": "log", "event_id": str(uuid.uuid4()), "ts": int(time.time() * 1000), "service": service}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "api_metric"}, "event of another kind on the log topic"),
        ({"event_id": "not-a-uuid"}, "event_id: missing or not a UUID"),
        ({"event_id": None}, "event_id: missing or not a UUID"),
        ({"ts": None}, "timestamp: missing"),
        ({"ts": -5}, "timestamp: out of range"),
        ({"ts": 10**15}, "timestamp: out of range"),
        ({"ts": "soon"}, "while reading the value of key ts"),
        ({"ts": True}, "Cannot parse input: expected ',' before: 'true"),
        ({"service": ""}, "service: missing"),
        ({"status_code": 70_000}, "status_code: out of range for the column (0 to 65535)"),
        ({"status_code": -1}, "status_code: out of range for the column"),
        ({"request_size_bytes": 2**64}, "request_size_bytes"),
        ({"status_code": 2.5}, "Cannot parse input: expected ',' before: '.5}'"),
    ],
)
def test_refused_events_are_refused_with_a_reason(sink, service, change, reason):
    event = {**_base(service), **change}
    event = {k: v for k, v in event.items() if v is not None}
    with pytest.raises(SinkRejected) as refused:
        # The standard library's encoder, which (unlike orjson) writes integers beyond 64 bits.
        sink.write(TABLES["log"], [json.dumps(event, separators=(",", ":")).encode()], "")
    assert reason in str(refused.value)


def test_a_non_finite_number_is_refused(sink, service):
    event = json.dumps({**_base(service), "response_time_ms": float("nan")}).encode()  # NaN: not JSON, but read
    with pytest.raises(SinkRejected, match="response_time_ms: not a finite number"):
        sink.write(TABLES["log"], [event], "")


def test_a_refused_insert_writes_none_of_its_events(settings, sink, service):
    good = orjson.dumps(_base(service))
    bad = orjson.dumps({**_base(service), "status_code": 70_000})
    with pytest.raises(SinkRejected):
        sink.write(TABLES["log"], [good, bad, good], "")
    assert _rows(settings, "logs", service, "event_id") == []


def test_the_running_pipeline_writes_the_good_events_and_dead_letters_each_refused_one(settings, node):
    """Through Kafka and the node's ClickHouse consumer: one refused event costs its batch-mates nothing."""
    service = f"ingest-mixed-{uuid.uuid4().hex[:6]}"
    good = [_base(service) for _ in range(6)]
    refused = {
        "kind": {**_base(service), "kind": "api_metric"},
        "range": {**_base(service), "status_code": 70_000},
        "no_ts": {k: v for k, v in _base(service).items() if k != "ts"},
    }
    mixed = good[:2] + [refused["kind"]] + good[2:4] + [refused["range"], 42, refused["no_ts"]] + good[4:]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        topic, key = settings.topic("log"), service.encode()
        for value in (orjson.dumps(mixed), b"[not json", orjson.dumps(good[0] | {"event_id": str(uuid.uuid4())})):
            producer.send(topic, key=key, value=value).get(timeout=30)  # no count header: counted by decoding
    finally:
        producer.close()

    def all_good_stored() -> list[tuple[Any, ...]] | None:
        rows = _rows(settings, "logs", service, "toString(event_id)")
        return rows if len(rows) >= len(good) else None

    stored = eventually(all_good_stored, timeout_s=30)
    assert sorted(r[0] for r in stored) == sorted(e["event_id"] for e in good)

    def letters():
        found = [
            d
            for d in read_dead_letters(settings.kafka_bootstrap, settings.dead_letter_topic, 2000)
            if service.encode() in d.original or d.original in (b"42", b"[not json")
        ]
        return found if len(found) >= 6 else None

    by_reason = {d.reason: d for d in eventually(letters, timeout_s=30)}
    reasons = sorted(by_reason)
    assert any(r.startswith("rejected by logs: event of another kind on the log topic") for r in reasons), reasons
    assert any(r.startswith("rejected by logs: status_code: out of range for the column") for r in reasons), reasons
    assert any(r.startswith("rejected by logs: timestamp: missing") for r in reasons), reasons
    assert any(r.startswith("rejected by logs: Cannot parse input: expected '{'") for r in reasons), reasons  # 42
    assert any(r.startswith("undecodable record") for r in reasons), reasons
    assert "undecodable record: record value is not a JSON array of events" in reasons
    range_letter = next(d for r, d in by_reason.items() if "status_code" in r)
    assert orjson.loads(range_letter.original) == refused["range"]
    assert range_letter.source.index == mixed.index(refused["range"])
