"""Around every request: its id, the in-flight gauge, the latency histogram, one structured log line,
and the rest of a refused body read away before the answer goes out."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request

from collector import intake, prometheus

log = logging.getLogger("lookout.collector")

# The collector answers JSON and protobuf only: nothing in an answer may be sniffed into HTML, framed,
# or load anything, and the Referer of a link followed from it stays on this origin.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _measured_route() -> str | None:
    """The route template of an ingest request (``/{index}/_bulk``, not the path: bounded label values);
    None for probes and unrouted requests, which are not measured."""
    rule = request.url_rule
    return rule.rule if rule is not None and request.blueprint not in (None, "probes") else None


def _start() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    # Honour a caller's id only when it is sane to echo into headers and logs.
    g.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
    g.started = time.perf_counter()
    if _measured_route():
        prometheus.IN_FLIGHT.inc()
        g.in_flight = True


def _teardown(_exc: BaseException | None) -> None:
    intake.release_body_bytes()
    if g.pop("in_flight", False):
        prometheus.IN_FLIGHT.dec()


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    response.headers.update(SECURITY_HEADERS)
    # Before the answer is sent: the client may still be writing. Not after a 408: that client is the
    # one too slow to wait for, and gunicorn closes its connection after the answer.
    if response.status_code >= 400 and response.status_code != 408:
        intake.discard_unread_body()
    route = _measured_route()
    if route:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        prometheus.REQUEST_SECONDS.labels(route).observe(elapsed)
        prometheus.REQUESTS.labels(route, str(response.status_code)).inc()
        log.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "api_key": g.get("key_name"),
            },
        )
    return response


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
