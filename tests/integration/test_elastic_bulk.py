"""The Elasticsearch ``_bulk`` subset, end to end with the official Python client (``helpers.bulk``) and
pino-elasticsearch (the official JavaScript client's bulk helper):
client -> collector -> Kafka -> pipeline -> ClickHouse -> ``GET /api/v1/logs``."""

from __future__ import annotations

import base64
import gzip
import time
import uuid

import elasticsearch
import orjson
import pytest
import requests
from elasticsearch import Elasticsearch, helpers

from access import keys
from tests.integration.conftest import eventually
from tests.integration.node_clients import install_node_clients, run_node  # noqa: F401 (the node_clients fixture)

pytestmark = pytest.mark.integration

NDJSON = {"Content-Type": "application/x-ndjson"}


def _logs(dashboards_url: str, query_key: str, **params: str) -> list[dict]:
    r = requests.get(
        f"{dashboards_url}/api/v1/logs",
        params=params,
        headers={"Authorization": f"Bearer {query_key}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()["logs"]


def _ndjson(*values: object) -> bytes:
    return b"".join(orjson.dumps(value) + b"\n" for value in values)


def test_official_client_bulk_lands_in_the_right_columns(collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    client = Elasticsearch(collector_url, api_key=ingest_key, request_timeout=15)
    assert client.info()["tagline"] == "You Know, for Search"
    now = time.time()
    actions = [
        # an index name as the service, ECS fields as Filebeat or an ECS logger writes them
        {
            "_index": "shop-api",
            "_source": {
                "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".250Z",
                "message": f"payment declined {marker}",
                "log": {"level": "error"},
                "host": {"name": "web-7"},
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "order": {"id": 42},
            },
        },
        # pino's shape: numeric level, msg, epoch ms, its own service name
        {
            "_op_type": "create",
            "_index": "ignored-index",
            "_source": {"level": 40, "time": int(now * 1000), "msg": f"slow query {marker}", "hostname": "db-1",
                        "service": "shop-db", "req": {"id": "r-1"}},
        },
    ]
    success, errors = helpers.bulk(client, actions)
    assert (success, errors) == (2, [])

    api = eventually(lambda: _logs(dashboards_url, query_key, service="shop-api", q=marker), timeout_s=30)
    assert len(api) == 1
    row = api[0]
    assert (row["level"], row["message"], row["instance"], row["correlation_id"]) == (
        "error", f"payment declined {marker}", "web-7", "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert row["timestamp"].endswith(".250Z")
    assert row["metadata"] == {"order": {"id": 42}}

    db = eventually(lambda: _logs(dashboards_url, query_key, service="shop-db", q=marker), timeout_s=30)
    assert (db[0]["level"], db[0]["message"], db[0]["instance"], db[0]["request_id"]) == (
        "warn", f"slow query {marker}", "db-1", "r-1"
    )


def test_pino_elasticsearch(node_clients, collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    run = run_node(node_clients, "pino_elasticsearch.js", LOOKOUT_URL=collector_url, LOOKOUT_KEY=ingest_key,
                   MARKER=marker)
    assert run.returncode == 0, run.stderr
    rows = eventually(lambda: len(found := _logs(dashboards_url, query_key, service="pino-shop", q=marker)) == 2
                      and found, timeout_s=30)
    by_level = {row["level"]: row for row in rows}
    assert by_level["error"]["message"] == f"stock sync failed {marker}"
    assert by_level["error"]["request_id"] == "req-9"
    assert by_level["error"]["instance"] and "pid" in by_level["error"]["metadata"]
    assert by_level["debug"]["message"] == f"stock sync retried {marker}"


def test_a_bad_document_fails_alone_with_its_item_status(collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    body = (
        _ndjson({"index": {}}, {"message": f"kept {marker}", "level": "info"})
        + _ndjson({"index": {}})
        + b'{"message": "broken\n'
        + _ndjson({"index": {}}, {"text": "no message field"})
        + _ndjson({"delete": {"_id": "1"}})
    )
    r = requests.post(
        f"{collector_url}/bulk-test/_bulk",
        data=gzip.compress(body),
        headers={**NDJSON, "Content-Encoding": "gzip", "Authorization": f"ApiKey {ingest_key}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.headers["X-Elastic-Product"] == "Elasticsearch"
    answer = r.json()
    assert answer["errors"] is True
    statuses = [(next(iter(item)), next(iter(item.values()))["status"]) for item in answer["items"]]
    assert statuses == [("index", 201), ("index", 400), ("index", 400), ("delete", 400)]
    reasons = [next(iter(item.values())).get("error", {}).get("reason", "") for item in answer["items"]]
    assert "parse" in reasons[1] and "message: required" in reasons[2] and "delete" in reasons[3]
    assert answer["items"][0]["index"]["_index"] == "bulk-test"
    # Counted in the collector's request metrics under the route's template, not the index's name.
    metrics = requests.get(f"{collector_url}/metrics", timeout=5).text
    assert 'lookout_collector_requests_total{endpoint="/<index>/_bulk",status="200"}' in metrics
    assert "/bulk-test/_bulk" not in metrics

    kept = eventually(lambda: _logs(dashboards_url, query_key, service="bulk-test", q=marker), timeout_s=30)
    assert kept[0]["message"] == f"kept {marker}"
    assert kept[0]["event_id"] == answer["items"][0]["index"]["_id"]


def test_a_uuid_id_is_the_event_id_so_a_retry_is_written_once(collector_url, dashboards_url, ingest_key, query_key):
    marker = uuid.uuid4().hex[:10]
    event_id = str(uuid.uuid4())
    # With its own timestamp: one without would take each attempt's arrival time, a different row.
    document = {"message": f"once {marker}", "@timestamp": int(time.time() * 1000)}
    body = _ndjson({"create": {"_index": "retry-test", "_id": event_id}}, document)
    for _ in range(2):
        r = requests.post(
            f"{collector_url}/_bulk", data=body, headers={**NDJSON, "Authorization": f"Bearer {ingest_key}"},
            timeout=10,
        )
        assert r.json()["items"][0]["create"]["status"] == 201
    rows = eventually(lambda: _logs(dashboards_url, query_key, service="retry-test", q=marker), timeout_s=30)
    assert [row["event_id"] for row in rows] == [event_id]


def test_basic_auth_with_the_key_as_password_and_a_base64_api_key(collector_url, ingest_key):
    body = _ndjson({"index": {"_index": "auth-test"}}, {"message": "m"})
    basic = base64.b64encode(f"anyone:{ingest_key}".encode()).decode()
    es_form = base64.b64encode(f"some-id:{ingest_key}".encode()).decode()
    for header in (f"Basic {basic}", f"ApiKey {es_form}"):
        r = requests.post(f"{collector_url}/_bulk", data=body, headers={**NDJSON, "Authorization": header}, timeout=10)
        assert r.status_code == 200 and r.json()["errors"] is False, (header, r.text)


def test_wrong_or_missing_key_is_elasticsearchs_401(collector_url):
    client = Elasticsearch(collector_url, api_key="lk_not-a-real-key", request_timeout=10)
    with pytest.raises(elasticsearch.AuthenticationException) as raised:
        helpers.bulk(client, [{"_index": "x", "_source": {"message": "m"}}])
    assert raised.value.meta.status == 401
    assert raised.value.body["error"]["type"] == "security_exception"

    r = requests.post(f"{collector_url}/_bulk", data=_ndjson({"index": {"_index": "x"}}, {}), headers=NDJSON,
                      timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["root_cause"][0]["type"] == "security_exception"
    assert r.json()["status"] == 401
    assert 'Basic realm="security"' in r.headers["WWW-Authenticate"]


def test_query_only_key_is_403_in_elasticsearchs_shape(collector_url, settings):
    secret = keys.create_key(settings, f"es-query-{uuid.uuid4().hex[:6]}", [keys.QUERY_SCOPE], None,
                             actor="tests").secret
    r = requests.post(f"{collector_url}/_bulk", data=_ndjson({"index": {"_index": "x"}}, {"message": "m"}),
                      headers={**NDJSON, "Authorization": f"ApiKey {secret}"}, timeout=10)
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "security_exception"


@pytest.mark.parametrize(
    ("body", "headers", "status", "fragment"),
    [
        (b'{"index": {}\n{"message": "m"}\n', NDJSON, 400, "action/metadata line [1]"),
        (b'{"index": {"_index": "x"}}\n', NDJSON, 400, "no document line"),
        (b'{"frobnicate": {}}\n{}\n', NDJSON, 400, "frobnicate"),
        (b"", NDJSON, 400, "no actions"),
        (b'{"index": {"_index": "x"}}\n{"message": "m"}\n', {"Content-Type": "text/plain"}, 415, "text/plain"),
        (b"not gzip", {**NDJSON, "Content-Encoding": "gzip"}, 400, "gzip"),
    ],
)
def test_malformed_bulk_requests_are_elasticsearch_errors_not_500(collector_url, ingest_key, body, headers, status,
                                                                  fragment):
    r = requests.post(f"{collector_url}/_bulk", data=body, headers={**headers, "Authorization": f"ApiKey {ingest_key}"},
                      timeout=10)
    assert r.status_code == status, r.text
    assert r.json()["status"] == status
    assert fragment in r.json()["error"]["reason"]


def test_default_kind_of_the_key_applies_to_documents_without_one(collector_url, settings):
    secret = keys.create_key(settings, f"es-metrics-{uuid.uuid4().hex[:6]}", ["api_metric"], None, actor="tests",
                             default_kind="api_metric").secret
    metric = {"endpoint": "/pay", "method": "POST", "status_code": 200, "response_time_ms": 12.5}
    r = requests.post(f"{collector_url}/api-gw/_bulk", data=_ndjson({"index": {}}, metric, {"index": {}},
                                                                     {"kind": "log", "message": "m"}),
                      headers={**NDJSON, "Authorization": f"ApiKey {secret}"}, timeout=10)
    items = [next(iter(item.values())) for item in r.json()["items"]]
    assert [item["status"] for item in items] == [201, 400]
    assert "may not send 'log'" in items[1]["error"]["reason"]
