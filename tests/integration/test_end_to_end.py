"""The first slice, end to end: collector -> Kafka -> pipeline -> ClickHouse -> dashboards API."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration


def test_posted_log_is_returned_by_the_logs_api(collector_url, dashboards_url, ingest_key, query_key):
    marker = f"checkout failed {uuid.uuid4().hex[:8]}"
    event_id = str(uuid.uuid4())
    response = requests.post(
        f"{collector_url}/v1/events",
        json=[
            {
                "kind": "log",
                "event_id": event_id,
                "timestamp": int(time.time() * 1000),
                "service": "e2e-payments",
                "level": "error",
                "message": marker,
                "request_id": "req-e2e-1",
            }
        ],
        headers={"Authorization": f"Bearer {ingest_key}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "rejected": 0, "errors": []}

    def found():
        r = requests.get(
            f"{dashboards_url}/api/v1/logs",
            params={"service": "e2e-payments", "q": marker.split()[-1], "level": "error"},
            headers={"Authorization": f"Bearer {query_key}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.json()["logs"]

    logs = eventually(found, timeout_s=30)
    assert len(logs) == 1
    assert logs[0]["event_id"] == event_id
    assert logs[0]["message"] == marker
    assert logs[0]["request_id"] == "req-e2e-1"


def test_logs_api_requires_a_query_key(dashboards_url, ingest_key):
    assert requests.get(f"{dashboards_url}/api/v1/logs", timeout=10).status_code == 401
    r = requests.get(f"{dashboards_url}/api/v1/logs", headers={"Authorization": f"Bearer {ingest_key}"}, timeout=10)
    assert r.status_code == 403


def test_logs_api_rejects_bad_parameters(dashboards_url, query_key):
    headers = {"Authorization": f"Bearer {query_key}"}
    for params, fragment in (({"level": "loud"}, "level"), ({"limit": "0"}, "limit"), ({"from": "yesterday"}, "from")):
        r = requests.get(f"{dashboards_url}/api/v1/logs", params=params, headers=headers, timeout=10)
        assert r.status_code == 400, (params, r.text)
        assert fragment in r.json()["error"]


def test_node_exports_pipeline_metrics(dashboards_url, collector_url, ingest_key):
    requests.post(
        f"{collector_url}/v1/events",
        json=[
            {
                "kind": "log",
                "timestamp": int(time.time() * 1000),
                "service": "metrics-e2e",
                "level": "info",
                "message": "counted",
            }
        ],
        headers={"Authorization": f"Bearer {ingest_key}"},
        timeout=10,
    )

    def scraped():
        text = requests.get(f"{dashboards_url}/metrics", timeout=10).text
        return 'lookout_pipeline_rows_written_total{sink="clickhouse"}' in text and "consumer_lag{" in text and text

    text = eventually(scraped, timeout_s=30)
    assert 'lookout_pipeline_sink_paused{sink="postgres"} 0.0' in text
    written = [
        line for line in text.splitlines() if line.startswith('lookout_pipeline_rows_written_total{sink="clickhouse"}')
    ]
    assert float(written[0].split()[-1]) >= 1
