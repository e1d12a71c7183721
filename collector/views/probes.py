"""Probes, metrics and the API's OpenAPI document, for the orchestrator, Prometheus and API clients; no API
key, nothing secret."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify

from collector import openapi, prometheus
from collector.services import services, settings

blueprint = Blueprint("probes", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is alive (for a liveness probe: restart me if this fails)."""
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Every dependency answers (for a readiness probe: send me traffic only if this passes)."""
    svc = services()
    checks = {
        "kafka": svc.producer.healthy(),
        "postgres": svc.authenticator.healthy(),
        "redis": _redis_ok(svc.redis),
    }
    response = jsonify({"ready": all(checks.values()), "checks": checks})
    response.status_code = 200 if all(checks.values()) else 503
    return response


@blueprint.get("/metrics")
def prometheus_metrics() -> Response:
    body, content_type = prometheus.render()
    return Response(body, content_type=content_type)


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    """The collector's OpenAPI 3.1 document (collector/openapi.py), with the limits it runs with."""
    return jsonify(openapi.document(settings()))


def _redis_ok(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
