"""Loki's push API end to end with real clients: winston-loki (Node.js; snappy protobuf, and JSON), pino-loki and
python-logging-loki (JSON, both its emitter versions) -> collector -> Kafka -> pipeline -> ``GET /api/v1/logs``."""

from __future__ import annotations

import logging
import time
import uuid

import cramjam
import logging_loki
import orjson
import pytest
import requests

from tests.integration.conftest import eventually
from tests.integration.node_clients import install_node_clients, run_node  # noqa: F401 (the node_clients fixture)

pytestmark = pytest.mark.integration

def _logs(dashboards_url: str, query_key: str, **params: str) -> list[dict]:
    r = requests.get(f"{dashboards_url}/api/v1/logs", params=params,
                     headers={"Authorization": f"Bearer {query_key}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["logs"]


def _push(collector_url: str, key: str | None, body: bytes, content_type: str) -> requests.Response:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(f"{collector_url}/loki/api/v1/push", data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("json_body", [False, True], ids=["protobuf", "json"])
def test_winston_loki(node_clients, collector_url, dashboards_url, ingest_key, query_key, json_body):
    marker = uuid.uuid4().hex[:10]
    run = run_node(node_clients, "winston_loki.js", LOOKOUT_URL=collector_url, LOOKOUT_KEY=ingest_key, MARKER=marker,
                   LOKI_JSON="1" if json_body else "0")
    assert run.returncode == 0, run.stderr
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="winston-shop", q=marker)) == 2
                      and found, timeout_s=30)
    by_level = {row["level"]: row for row in rows}
    assert by_level["error"]["message"].startswith(f"charge failed {marker}")
    assert by_level["error"]["instance"] == "node-1"
    assert by_level["error"]["metadata"] == {"env": "test"}
    assert by_level["info"]["message"].startswith(f"charge retried {marker}")


def test_pino_loki(node_clients, collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    run = run_node(node_clients, "pino_loki.js", LOOKOUT_URL=collector_url, LOOKOUT_KEY=ingest_key, MARKER=marker)
    assert run.returncode == 0, run.stderr
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="pino-loki-api", q=marker)) == 2
                      and found, timeout_s=30)
    by_level = {row["level"]: row for row in rows}
    # pino-loki sends pino's JSON as the line: its fields land in their columns
    assert by_level["warn"]["message"] == f"cart abandoned {marker}"
    assert by_level["warn"]["request_id"] == "req-3"
    assert by_level["warn"]["instance"]  # pino's hostname, sent as a label
    assert by_level["warn"]["metadata"]["cart"] == 12
    assert by_level["debug"]["message"] == f"cart saved {marker}"


@pytest.mark.parametrize("version", ["0", "1"])
def test_python_logging_loki(collector_url, dashboards_url, ingest_key, query_key, version):
    marker = uuid.uuid4().hex[:10]
    handler = logging_loki.LokiHandler(
        url=f"{collector_url}/loki/api/v1/push", tags={"host": "py-1"}, auth=("lookout", ingest_key),
        version=version,
    )
    logger = logging.getLogger(f"billing.loki{version}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        # The handler raises (and logging reports it) unless Loki's 204 comes back; capture that as a failure.
        errors: list[BaseException] = []
        handler.handleError = lambda record: errors.append(record)  # type: ignore[method-assign]
        logger.warning("invoice overdue %s", marker)
        assert errors == []
    finally:
        logger.removeHandler(handler)
        handler.close()
    (row,) = eventually(lambda: _logs(dashboards_url, query_key, service=f"billing.loki{version}", q=marker),
                        timeout_s=30)
    assert (row["level"], row["message"], row["instance"]) == ("warn", f"invoice overdue {marker}", "py-1")
    assert abs(time.time() - (time.mktime(time.strptime(row["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
                              - time.timezone)) < 120


def test_partial_push_keeps_the_good_entries_and_answers_400(collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    now_ns = str(time.time_ns())
    body = orjson.dumps({"streams": [
        {"stream": {"service_name": "loki-partial"}, "values": [[now_ns, f"good {marker}"], [now_ns]]},
        {"stream": {"app": "loki-partial"}, "values": [["1", "from 1970"]]},
        {"labels": "not labels", "entries": []},
    ]})
    r = _push(collector_url, ingest_key, body, "application/json")
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "3 of 4 entries refused, 1 stored" in r.text and "older than 365 days" in r.text
    (row,) = eventually(lambda: _logs(dashboards_url, query_key, service="loki-partial", q=marker), timeout_s=30)
    assert row["message"] == f"good {marker}"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"{", "application/json", 400, "invalid JSON"),
        (b"\x00garbage", "application/x-protobuf", 400, "snappy"),
        (bytes(cramjam.snappy.compress_raw(b"\x0a\xff")), "application/x-protobuf", 400, "protobuf"),
        (b"{}", "text/plain", 415, "Content-Type"),
    ],
)
def test_malformed_pushes_are_plain_text_errors(collector_url, ingest_key, body, content_type, status, fragment):
    r = _push(collector_url, ingest_key, body, content_type)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert fragment in r.text


def test_wrong_or_missing_key_is_401(collector_url):
    body = orjson.dumps({"streams": [{"stream": {"app": "a"}, "values": [[str(time.time_ns()), "x"]]}]})
    for key in (None, "lk_not-a-real-key"):
        r = _push(collector_url, key, body, "application/json")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="loki"'
        assert r.headers["Content-Type"].startswith("text/plain")
