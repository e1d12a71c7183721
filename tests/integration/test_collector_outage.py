"""The collector when Kafka goes away: a prompt 503 with Retry-After, never a false 202, then recovery."""

from __future__ import annotations

import time

import orjson
import pytest
import requests

from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration


def _post(collector_url: str, key: str) -> requests.Response:
    event = {"kind": "log", "timestamp": int(time.time() * 1000), "service": "outage", "level": "warn", "message": "m"}
    return requests.post(
        f"{collector_url}/v1/events",
        data=orjson.dumps([event]),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )


def test_kafka_down_gives_503_with_retry_after_then_recovers_by_itself(stack, collector_url, ingest_key, settings):
    assert _post(collector_url, ingest_key).status_code == 202
    stack.kafka.stop()
    try:
        started = time.monotonic()
        r = _post(collector_url, ingest_key)
        elapsed = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) > 0
        assert "retry" in r.json()["error"]
        # Bounded: the produce timeout plus a little, never a hung client.
        assert elapsed < settings.produce_timeout_s + 3
        ready = requests.get(f"{collector_url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["kafka"] is False
    finally:
        stack.kafka.start()
        stack.kafka.wait_ready(120)
    eventually(lambda: _post(collector_url, ingest_key).status_code == 202, timeout_s=60, interval_s=1.0)
