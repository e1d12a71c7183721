"""The overview and API-metrics panels, fed through the real collector, Kafka, pipeline, chDB and PostgreSQL:
each kind lands in the ingest panel with its exact count, requests, errors and sizes are exact, percentiles
are within the t-digest's error of the exact ones, a re-delivered batch changes no panel, and the panel cache
answers a second request without computing it, never across roles. Every answer is validated against the
OpenAPI document."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import requests

from lookout.contract.event import validate_event
from tests.integration.conftest import eventually
from tests.integration.test_rollups import post_events, write_redelivered
from tests.integration.web.conftest import sign_in
from tests.integration.web.test_api import check
from warehouse import clickhouse
from warehouse.rollup_refresh import refresh

pytestmark = pytest.mark.integration

COUNTS = {"log": 30, "system_metric": 12, "blockchain_event": 5, "admin_audit": 3, "security_event": 4}
REQUESTS = 200
# quantilesTDigest keeps the extreme quantiles nearly exact and the middle ones within about 1% of the rank
# for large inputs; on 100 values per minute the worst case seen is well under 5% (as tests/integration/
# test_rollups.py allows).
TDIGEST_REL = 0.05
OVERVIEW = ("ingest", "requests", "errors", "latency", "status", "top/requests", "top/errors", "top/latency",
            "services")  # fmt: skip
API_METRICS = ("endpoints", "latency", "errors", "sizes", "slowest")


def api_event(service: str, base_ms: int, i: int) -> dict:
    status = 500 if i % 10 == 0 else 404 if i % 10 == 1 else 200
    return {
        "kind": "api_metric",
        "event_id": str(uuid.uuid4()),
        "timestamp": base_ms + (i % 2) * 60_000 + i,
        "service": service,
        "endpoint": "/pay" if i % 2 == 0 else "/users/:id",
        "method": "POST" if i % 2 == 0 else "GET",
        "status_code": status,
        "response_time_ms": float(i + 1),
        "request_size_bytes": 100 + (i % 2) * 50,
        "response_size_bytes": 1000 + i,
        "metadata": {"request_id": f"req-{service}-{i}"},
    }


def other_events(service: str, base_ms: int) -> list[dict]:
    fields = {
        "log": {"level": "info", "message": "hello"},
        "system_metric": {"metric_type": "cpu", "metric_name": "cpu.utilization", "value": 0.42},
        "blockchain_event": {"event_type": "Transfer"},
        "admin_audit": {"action": "user.suspend"},
        "security_event": {"event_type": "failed_login", "severity": "high"},
    }
    return [
        {"kind": kind, "timestamp": base_ms + 30_000 + i, "service": service, **fields[kind]}
        for kind, n in COUNTS.items()
        for i in range(n)
    ]


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.fixture(scope="module")
def document(web_url, admin) -> dict:
    return sign_in(web_url, admin).get(f"{web_url}/api/v1/openapi.json", timeout=10).json()


@pytest.fixture(scope="module")
def fed(collector_url, ingest_key, node, settings):
    """A fresh service with 200 API requests over two minutes and events of every other kind."""
    service = f"ov-{uuid.uuid4().hex[:8]}"
    base_ms = (int(time.time()) // 60) * 60_000 - 180_000  # three whole minutes ago
    api = [api_event(service, base_ms, i) for i in range(REQUESTS)]
    others = other_events(service, base_ms)
    assert post_events(collector_url, ingest_key, api + others) == len(api) + len(others)
    start = datetime.fromtimestamp(base_ms / 1000, UTC) - timedelta(minutes=1)
    params = {"service": service, "from": start.isoformat(), "to": (start + timedelta(minutes=5)).isoformat()}
    return service, api, params


def get(browser: requests.Session, url: str, params: dict) -> requests.Response:
    return browser.get(url, params=params, timeout=30)


def panels(browser: requests.Session, web_url: str, params: dict, tag: str) -> dict[str, dict]:
    """Every panel's data, asked with a parameter no panel reads (``tag``), so none comes from the cache."""
    asked = {**params, "tag": tag}
    out = {f"overview/{p}": get(browser, f"{web_url}/api/v1/overview/{p}", asked).json() for p in OVERVIEW}
    out |= {f"api-metrics/{p}": get(browser, f"{web_url}/api/v1/api-metrics/{p}", asked).json() for p in API_METRICS}
    return {name: answer["data"] for name, answer in out.items()}


def test_each_kind_lands_in_its_panel_with_exact_counts_and_percentiles(web_url, viewer, fed, document):
    service, api, params = fed
    browser = sign_in(web_url, viewer)
    url = f"{web_url}/api/v1/overview"

    def ingested() -> dict[str, int] | None:
        answer = get(browser, f"{url}/ingest", {**params, "tag": str(time.monotonic())})
        totals: dict[str, int] = {}
        for point in answer.json()["data"]:
            totals[point["kind"]] = totals.get(point["kind"], 0) + point["event_count"]
        return totals if totals == {**COUNTS, "api_metric": REQUESTS} else None

    eventually(ingested, timeout_s=60)
    for name in OVERVIEW:
        check(document, "GET", f"/api/v1/overview/{name}", get(browser, f"{url}/{name}", params), 200)

    points = get(browser, f"{url}/latency", params).json()["data"]
    busy = [p for p in points if p["request_count"]]
    assert [p["request_count"] for p in busy] == [100, 100]
    assert sum(p["errors_5xx"] for p in points) == 20 and sum(p["errors_4xx"] for p in points) == 20
    for point, minute in zip(busy, (0, 1), strict=True):
        latencies = [
            e["response_time_ms"] for e in api if e["timestamp"] // 60_000 == api[minute]["timestamp"] // 60_000
        ]
        for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            assert point[name] == pytest.approx(exact_quantile(latencies, q), rel=TDIGEST_REL), name
    # Every tenth request (even: the first minute) failed 5xx, every tenth plus one (odd: the second) 4xx.
    assert [(p["error_rate_5xx"], p["error_rate_4xx"]) for p in busy] == [(20.0, 0.0), (0.0, 20.0)]
    assert all(p["p95_ms"] is None for p in points if not p["request_count"])  # a gap, not a zero

    status = get(browser, f"{url}/status", params).json()["data"]
    mix: dict[str, int] = {}
    for point in status:
        mix[point["status_class"]] = mix.get(point["status_class"], 0) + point["request_count"]
    assert mix == {"2xx": 160, "4xx": 20, "5xx": 20}

    by_errors = get(browser, f"{url}/top/errors", params).json()
    assert [(r["method"], r["endpoint"], r["errors_5xx"]) for r in by_errors["data"]] == [
        ("POST", "/pay", 20), ("GET", "/users/:id", 0),
    ]  # fmt: skip
    link = by_errors["table"]["rows"][0]["errors"]["href"]
    assert link.startswith("/explore?") and "status_code%3A%3E%3D500" in link and service in link
    by_p95 = get(browser, f"{url}/top/latency", params).json()["data"]
    pay = [e["response_time_ms"] for e in api if e["endpoint"] == "/pay"]
    users = [e["response_time_ms"] for e in api if e["endpoint"] != "/pay"]
    assert [r["endpoint"] for r in by_p95] == ["/users/:id", "/pay"]  # 2..200 beats 1..199
    assert by_p95[0]["p95_ms"] == pytest.approx(exact_quantile(users, 0.95), rel=TDIGEST_REL)
    assert by_p95[1]["p95_ms"] == pytest.approx(exact_quantile(pay, 0.95), rel=TDIGEST_REL)

    (row,) = get(browser, f"{url}/services", params).json()["data"]
    assert (row["service"], row["request_count"], row["errors_5xx"], row["errors_4xx"]) == (service, 200, 20, 20)
    newest = max(e["timestamp"] for e in api)
    assert datetime.fromisoformat(row["last_seen"]) == datetime.fromtimestamp(newest / 1000, UTC)
    assert row["p95_ms"] == pytest.approx(exact_quantile([e["response_time_ms"] for e in api], 0.95), rel=TDIGEST_REL)

    # Over a range ending two hours after it, the service is not heard in the range's last hour: its last event
    # is looked up further back, in the minute rollups (once the job has rolled them up), to the minute.
    last_minute = datetime.fromtimestamp(newest // 60_000 * 60, UTC)
    later = {**params, "to": (last_minute + timedelta(hours=2)).isoformat()}

    def seen_later() -> datetime | None:
        (row,) = get(browser, f"{url}/services", {**later, "tag": str(time.monotonic())}).json()["data"]
        return row["last_seen"] and datetime.fromisoformat(row["last_seen"])

    # Until then it is the newest event the raw tables hold without a rollup (the blockchain events, 30 s before).
    eventually(lambda: seen_later() == last_minute, timeout_s=40)


def test_api_metrics_panels_sizes_slowest_and_comparison(web_url, viewer, fed, document):
    service, api, params = fed
    browser = sign_in(web_url, viewer)
    url = f"{web_url}/api/v1/api-metrics"
    pay = {**params, "endpoint": "/pay", "method": "POST"}
    eventually(lambda: sum(p["request_count"] for p in get(browser, f"{url}/latency", {**pay, "x": time.time()})
                           .json()["data"]) == 100, timeout_s=60)  # fmt: skip
    for name in API_METRICS:
        check(document, "GET", f"/api/v1/api-metrics/{name}", get(browser, f"{url}/{name}", pay), 200)

    sizes = [p for p in get(browser, f"{url}/sizes", pay).json()["data"] if p["request_avg_bytes"] is not None]
    assert [p["request_avg_bytes"] for p in sizes] == [100.0]  # /pay: the even requests, all in the first minute
    assert sizes[0]["response_avg_bytes"] == pytest.approx(sum(1000 + i for i in range(0, 200, 2)) / 100)

    slowest = get(browser, f"{url}/slowest", pay).json()
    assert [r["response_time_ms"] for r in slowest["data"][:3]] == [199.0, 197.0, 195.0]
    assert slowest["data"][0]["request_id"] == f"req-{service}-198"
    assert slowest["table"]["rows"][0]["request"]["href"] == f"/explore?pivot=req-{service}-198"

    compared = get(browser, f"{url}/latency", {**pay, "compare": "1w"}).json()
    assert compared["offset"] == "1w"
    previous = [p for p in compared["data"] if p["period"] == "previous"]
    current = [p for p in compared["data"] if p["period"] == "current"]
    assert [p["bucket"] for p in previous] == [p["bucket"] for p in current]  # moved onto this range's axis
    assert sum(p["request_count"] for p in previous) == 0
    dashed = [t for t in compared["figure"]["data"] if t["line"]["dash"] == "dash"]
    assert [t["name"] for t in dashed] == ["p95 a week earlier"]

    endpoints = get(browser, f"{url}/endpoints", {**params, "limit": "50"}).json()
    assert {(r["method"], r["endpoint"], r["request_count"]) for r in endpoints["data"]} == {
        ("POST", "/pay", 100), ("GET", "/users/:id", 100),
    }  # fmt: skip
    assert "/metrics/api?" in endpoints["table"]["rows"][0]["endpoint"]["href"]

    csv = get(browser, f"{url}/slowest", {**pay, "format": "csv"})
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("timestamp,service,method,endpoint,status_code,response_time_ms")
    assert f"req-{service}-198" in csv.text.splitlines()[1]


def test_a_bad_parameter_fails_only_the_panels_that_read_it(web_url, viewer, fed, document):
    _, _, params = fed
    browser = sign_in(web_url, viewer)
    too_many = get(browser, f"{web_url}/api/v1/overview/top/requests", {**params, "limit": "500"})
    check(document, "GET", "/api/v1/overview/top/requests", too_many, 400)
    assert "limit" in too_many.json()["error"]
    fine = get(browser, f"{web_url}/api/v1/overview/requests", {**params, "limit": "500"})
    check(document, "GET", "/api/v1/overview/requests", fine, 200)
    backwards = get(browser, f"{web_url}/api/v1/overview/requests", {**params, "from": "now", "to": "now-1h"})
    check(document, "GET", "/api/v1/overview/requests", backwards, 400)
    assert "from" in backwards.json()["error"]


def test_a_redelivered_batch_changes_no_panel(web_url, viewer, fed, settings):
    service, api, params = fed
    browser = sign_in(web_url, viewer)
    ingest = f"{web_url}/api/v1/overview/ingest"
    total = REQUESTS + sum(COUNTS.values())
    eventually(lambda: sum(p["event_count"] for p in get(browser, ingest, {**params, "x": time.time()}).json()["data"])
               == total, timeout_s=60)  # fmt: skip
    before = panels(browser, web_url, params, "before")
    # The same events again, cut differently (so with other deduplication tokens): ClickHouse stores every copy.
    now_ms = int(time.time() * 1000)
    wire = [orjson.dumps(validate_event(event, now_ms).to_json_dict()) for event in api]
    stored = write_redelivered(settings, "api_metric", wire, f"{service}-again")
    assert stored == 10 + REQUESTS + 5
    client = clickhouse.connect(settings.clickhouse_dsn)
    assert panels(browser, web_url, params, "after, from raw minutes") == before
    refresh(client, settle_s=0)  # and once the minutes are rolled up again
    assert panels(browser, web_url, params, "after, from rollups") == before
    client.close()


def test_the_cache_answers_the_second_request_and_never_across_roles(web_url, viewer, admin, fed, web_settings):
    _, _, params = fed
    ttl = web_settings.panel_cache_ttl_s
    assert ttl > 0
    as_viewer, as_admin = sign_in(web_url, viewer), sign_in(web_url, admin)
    url = f"{web_url}/api/v1/overview/services"

    def four_answers() -> list[requests.Response] | None:
        """A viewer twice, then an admin twice, within one cache period (answers are cached per period)."""
        asked = {**params, "tag": uuid.uuid4().hex}
        began = time.time()
        answers = [get(as_viewer, url, asked), get(as_viewer, url, asked), get(as_admin, url, asked),
                   get(as_admin, url, asked)]  # fmt: skip
        return answers if began // ttl == time.time() // ttl else None

    first, second, other_role, other_again = eventually(four_answers, timeout_s=60)
    assert (first.headers["X-Lookout-Cache"], second.headers["X-Lookout-Cache"]) == ("miss", "hit")
    assert second.content == first.content
    assert other_role.headers["X-Lookout-Cache"] == "miss"  # computed for the admin, not the viewer's copy
    assert other_again.headers["X-Lookout-Cache"] == "hit"
