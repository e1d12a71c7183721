"""The collector's public contract, against the real broker, PostgreSQL and Redis: every status code."""

from __future__ import annotations

import gzip
import time
import uuid
import zlib

import orjson
import pytest
import requests

from access import keys
from tests.integration.conftest import eventually
from warehouse import postgres

pytestmark = pytest.mark.integration


def _now_ms() -> int:
    return int(time.time() * 1000)


def _log(**overrides):
    event = {"kind": "log", "timestamp": _now_ms(), "service": "collector-tests", "level": "info", "message": "hello"}
    event.update(overrides)
    return event


def _post(url, key, body, content_type="application/json", **headers):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    all_headers = {"Content-Type": content_type, **headers}
    if key is not None:
        all_headers["Authorization"] = f"Bearer {key}"
    return requests.post(f"{url}/v1/events", data=data, headers=all_headers, timeout=15)


def test_accepts_a_json_batch_with_202_and_echoes_the_request_id(collector_url, ingest_key):
    r = _post(collector_url, ingest_key, [_log(), _log(level="error")], **{"X-Request-ID": "trace-me-42"})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, "rejected": 0, "errors": []}
    assert r.headers["X-Request-ID"] == "trace-me-42"
    assert int(r.headers["X-RateLimit-Limit"]) > 0


def test_generates_a_request_id_when_none_is_sent(collector_url, ingest_key):
    r = _post(collector_url, ingest_key, [_log()])
    assert len(r.headers["X-Request-ID"]) == 32


def test_accepts_ndjson_and_gzip(collector_url, ingest_key):
    ndjson = b"\n".join(orjson.dumps(_log(message=f"line {i}")) for i in range(3)) + b"\n"
    r = _post(collector_url, ingest_key, gzip.compress(ndjson), "application/x-ndjson", **{"Content-Encoding": "gzip"})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 3


def test_mixed_batch_keeps_its_good_events_and_names_each_bad_one(collector_url, ingest_key):
    batch = [
        _log(),
        {"kind": "nope", "timestamp": _now_ms(), "service": "s"},
        _log(level="loud"),
        {
            "kind": "api_metric",
            "timestamp": _now_ms(),
            "service": "s",
            "endpoint": "/x",
            "method": "GET",
            "status_code": "200",
            "response_time_ms": 3,
        },
        _log(timestamp=_now_ms() + 7 * 86_400_000),
        _log(timestamp=_now_ms() - 3 * 365 * 86_400_000),
        "not an object",
        _log(message=None),
        _log(),
    ]
    r = _post(collector_url, ingest_key, batch)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert body["rejected"] == 7
    by_index = {e["index"]: e["error"] for e in body["errors"]}
    assert sorted(by_index) == [1, 2, 3, 4, 5, 6, 7]
    assert "nope" in by_index[1]
    assert "level" in by_index[2]
    assert "status_code" in by_index[3]
    assert "future" in by_index[4] and "past" in by_index[5] or "timestamp" in by_index[4]
    assert "message" in by_index[7]


def test_ndjson_with_one_broken_line_keeps_the_others(collector_url, ingest_key):
    body = orjson.dumps(_log()) + b"\n{broken\n" + orjson.dumps(_log()) + b"\n"
    r = _post(collector_url, ingest_key, body, "application/x-ndjson")
    assert r.status_code == 202
    assert r.json()["accepted"] == 2
    assert [e["index"] for e in r.json()["errors"]] == [1]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", ""),
        (b"\xff\xfe[]", ""),
        (b"[" * 100_000 + b"]" * 100_000, ""),
        (b"[]", "empty"),
        (b"42", ""),
    ],
    ids=["malformed", "invalid-utf8", "deeply-nested", "empty-batch", "not-an-array"],
)
def test_unparseable_bodies_are_400_with_a_json_error(collector_url, ingest_key, body, fragment):
    r = _post(collector_url, ingest_key, body)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["error"]


def test_wrong_content_type_and_encoding_are_415(collector_url, ingest_key):
    assert _post(collector_url, ingest_key, [_log()], "text/plain").status_code == 415
    r = _post(collector_url, ingest_key, [_log()], **{"Content-Encoding": "br"})
    assert r.status_code == 415
    assert "br" in r.json()["error"]


def test_missing_wrong_and_revoked_keys_are_401(collector_url, settings):
    assert _post(collector_url, None, [_log()]).status_code == 401
    assert _post(collector_url, "lk_not-a-real-key", [_log()]).status_code == 401
    created = keys.create_key(settings, f"short-lived-{uuid.uuid4().hex[:6]}", ["log"], None, actor="tests")
    assert _post(collector_url, created.secret, [_log()]).status_code == 202
    keys.revoke_key(settings, created.key.id, actor="tests")
    started = time.monotonic()
    eventually(lambda: _post(collector_url, created.secret, [_log()]).status_code == 401, timeout_s=5)
    assert time.monotonic() - started < 5


def test_a_key_limited_to_some_kinds_cannot_send_others(collector_url, settings):
    scoped = keys.create_key(settings, f"logs-only-{uuid.uuid4().hex[:6]}", ["log"], None, actor="tests").secret
    metric = {
        "kind": "api_metric",
        "timestamp": _now_ms(),
        "service": "s",
        "endpoint": "/x",
        "method": "GET",
        "status_code": 200,
        "response_time_ms": 3.5,
    }
    r = _post(collector_url, scoped, [_log(), metric])
    assert r.status_code == 202
    assert r.json()["accepted"] == 1
    assert "api_metric" in r.json()["errors"][0]["error"]


def test_oversized_body_is_413(collector_url, ingest_key, settings):
    big = b"[" + b",".join([orjson.dumps(_log(message="x" * 60_000))] * 100) + b"]"
    assert len(big) > settings.max_body_bytes
    r = _post(collector_url, ingest_key, big)
    assert r.status_code == 413
    assert "limit" in r.json()["error"]


def test_gzip_bomb_is_413_without_inflating_it(collector_url, ingest_key):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(512)) + compressor.flush()  # 512 MiB inflated
    assert len(bomb) < 1 << 20
    r = _post(collector_url, ingest_key, bomb, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text


def test_oversized_event_is_rejected_alone(collector_url, ingest_key, settings):
    r = _post(
        collector_url,
        ingest_key,
        [_log(message="y" * 60_000, metadata={"blob": "z" * settings.max_event_bytes}), _log()],
    )
    assert r.status_code == 202
    assert r.json()["accepted"] == 1
    assert r.json()["errors"][0]["index"] == 0


def test_injection_strings_are_stored_verbatim(collector_url, dashboards_url, ingest_key, query_key):
    nasty = "'); DROP TABLE logs; -- <script>alert(1)</script> {service:String} \\' %_"
    service = f"inject-{uuid.uuid4().hex[:6]}"
    r = _post(collector_url, ingest_key, [_log(service=service, message=nasty, request_id=nasty[:60])])
    assert r.status_code == 202

    def stored():
        rows = requests.get(
            f"{dashboards_url}/api/v1/logs",
            params={"service": service, "q": "DROP TABLE"},
            headers={"Authorization": f"Bearer {query_key}"},
            timeout=10,
        ).json()["logs"]
        return rows

    rows = eventually(stored, timeout_s=30)
    assert rows[0]["message"] == nasty


def test_rate_limited_key_gets_429_with_retry_after_and_one_security_event(collector_url, settings, node):
    name = f"throttled-{uuid.uuid4().hex[:6]}"
    created = keys.create_key(settings, name, ["log"], 5, actor="tests")
    # A batch bigger than the bucket is let through once and puts the key in debt (10 s at 5/s)...
    assert _post(collector_url, created.secret, [_log()] * 50).status_code == 202
    statuses = [_post(collector_url, created.secret, [_log()]) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 429]
    assert 5 <= int(statuses[0].headers["Retry-After"]) <= 10
    assert statuses[0].headers["X-RateLimit-Remaining"] == "0"

    def security_events():
        with postgres.connect(settings.postgres_dsn) as conn:
            return conn.execute(
                "SELECT event_type, severity, threat_indicators FROM security_events "
                "WHERE event_type = 'rate_limit_exceeded' AND threat_indicators->>'api_key_name' = %s",
                (name,),
            ).fetchall()

    rows = eventually(security_events, timeout_s=30)
    time.sleep(1.0)  # give a (wrong) second event time to arrive
    assert len(security_events()) == 1
    assert rows[0]["threat_indicators"]["limit_per_s"] == 5


def test_unknown_endpoint_and_method_are_json_4xx(collector_url):
    assert requests.get(f"{collector_url}/v2/nothing", timeout=5).status_code == 404
    r = requests.get(f"{collector_url}/v1/events", timeout=5)
    assert r.status_code == 405
    assert "error" in r.json()


def test_readyz_and_metrics(collector_url, ingest_key):
    _post(collector_url, ingest_key, [_log(), {"kind": "bad"}])
    ready = requests.get(f"{collector_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"kafka": True, "postgres": True, "redis": True}
    text = requests.get(f"{collector_url}/metrics", timeout=5).text
    assert 'lookout_collector_events_accepted_total{kind="log"}' in text
    assert 'lookout_collector_events_rejected_total{reason="invalid"}' in text
    assert "lookout_collector_request_duration_seconds_bucket" in text
    assert "lookout_collector_requests_in_flight" in text


def test_an_event_nested_too_deeply_to_re_encode_is_rejected_alone(collector_url, ingest_key, settings):
    # Over max_event_bytes in total, so each event is re-encoded to be measured; orjson stops at 255 levels.
    deep = orjson.dumps(_log(metadata={"deep": "here"})).replace(b'"here"', b"[" * 300 + b"0" + b"]" * 300)
    padding = [_log(message="p" * 60_000) for _ in range(settings.max_event_bytes // 60_000 + 1)]
    r = _post(collector_url, ingest_key, b"[" + b",".join([deep, *map(orjson.dumps, padding)]) + b"]")
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == len(padding)
    [failure] = r.json()["errors"]
    assert failure["index"] == 0
    assert "nested" in failure["error"]


def _otlp(url, key, path, document):
    return requests.post(
        f"{url}{path}",
        data=orjson.dumps(document),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=15,
    )


def _otlp_logs(record):
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}


def _otlp_gauge(point, kind="gauge"):
    metric = {"name": "queue.depth", kind: {"dataPoints": [point]}}
    return {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}


@pytest.mark.parametrize(
    "path, document, field",
    [
        ("/v1/logs", _otlp_logs({"timeUnixNano": "1", "body": {"intValue": str(2**64)}}), "intValue"),
        ("/v1/logs", _otlp_logs({"timeUnixNano": "1", "body": {"intValue": "-" + "9" * 30}}), "intValue"),
        ("/v1/logs", _otlp_logs({"timeUnixNano": "1", "traceId": "é" * 24}), "traceId"),
        ("/v1/logs", _otlp_logs({"timeUnixNano": "1", "spanId": "ßpän-ïd"}), "spanId"),
        ("/v1/metrics", _otlp_gauge({"timeUnixNano": "1", "asInt": "9" * 400}), "asInt"),
        ("/v1/metrics", _otlp_gauge({"timeUnixNano": "1", "count": "9" * 400, "sum": 1.0}, "histogram"), "count"),
        ("/v1/metrics", _otlp_gauge({"timeUnixNano": "1", "count": "9" * 400, "sum": 1.0}, "summary"), "count"),
    ],
    ids=["log-body-int-2**64", "log-body-int-30-digits", "non-ascii-trace-id", "non-ascii-span-id",
         "as-int-400-digits", "histogram-count-400-digits", "summary-count-400-digits"],
)
def test_otlp_values_out_of_range_reject_the_record_naming_the_field(collector_url, ingest_key, path, document,
                                                                     field):
    r = _otlp(collector_url, ingest_key, path, document)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert int(partial.get("rejectedLogRecords", partial.get("rejectedDataPoints"))) == 1
    assert field in partial["errorMessage"]


def test_a_query_only_key_may_not_ingest(collector_url, query_key):
    r = _post(collector_url, query_key, [_log()])
    assert r.status_code == 403, r.text
    assert "query" in r.json()["error"] and "ingest" in r.json()["error"]
    r = _otlp(collector_url, query_key, "/v1/logs", _otlp_logs({"timeUnixNano": "1", "body": {"stringValue": "x"}}))
    assert r.status_code == 403, r.text
    r = _otlp(collector_url, query_key, "/v1/metrics", _otlp_gauge({"timeUnixNano": "1", "asDouble": 1.5}))
    assert r.status_code == 403, r.text


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def test_every_answer_carries_the_security_headers(collector_url, ingest_key):
    answers = [
        _post(collector_url, ingest_key, [_log()]),
        _post(collector_url, ingest_key, b"{not json"),
        _post(collector_url, None, [_log()]),
        requests.get(f"{collector_url}/healthz", timeout=5),
        requests.get(f"{collector_url}/v2/nothing", timeout=5),
        requests.get(f"{collector_url}/metrics", timeout=5),
    ]
    assert [r.status_code for r in answers] == [202, 400, 401, 200, 404, 200]
    for r in answers:
        assert {name: r.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS, r.url
