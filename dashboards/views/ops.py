"""Health and Prometheus metrics: open to anyone who can reach the port, as load balancers and scrapers
expect; neither says anything about accounts, keys or events."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboards.security import public
from dashboards.views.common import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@public
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/metrics")
@public
def prometheus_metrics() -> Response:
    return Response(generate_latest(services().registry), content_type=CONTENT_TYPE_LATEST)
