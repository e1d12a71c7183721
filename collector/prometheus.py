"""The collector's Prometheus metrics.

Under gunicorn each worker is a process, so the counters live in
prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, set by the
gunicorn config) and /metrics sums every worker; in a single process (tests,
development server) the default registry is used.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

EVENTS_ACCEPTED = Counter(
    "lookout_collector_events_accepted_total", "Events acknowledged by Kafka and answered 202, by kind", ["kind"]
)
EVENTS_REJECTED = Counter(
    "lookout_collector_events_rejected_total",
    "Events not accepted, by reason: invalid, forbidden_kind, too_large, rate_limited, unavailable",
    ["reason"],
)
REQUESTS = Counter("lookout_collector_requests_total", "Requests by endpoint and status code", ["endpoint", "status"])
REQUEST_SECONDS = Histogram(
    "lookout_collector_request_duration_seconds",
    "Request latency, from the first byte read to the response",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PRODUCE_ERRORS = Counter("lookout_collector_produce_errors_total", "Requests whose events Kafka did not acknowledge")
IN_FLIGHT = Gauge("lookout_collector_requests_in_flight", "Requests being handled now", multiprocess_mode="livesum")


def render() -> tuple[bytes, str]:
    # prometheus_client picked its storage at import (from PROMETHEUS_MULTIPROC_DIR); ask it, not the environment.
    if values.ValueClass is not values.MutexValue:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
