"""The dashboards app: admin pages and the JSON API over the warehouse.

Built with an app factory (as in Flask's tutorial); in single-node mode it runs
as a thread of the worker process, which owns the one chDB engine.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC

import orjson
import redis
from clickhouse_connect.driver.client import Client
from flask import Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dashboards.params import BadParameter, log_query
from access.auth import ApiKeyAuthenticator, AuthUnavailable
from lookout.settings import Settings
from warehouse import clickhouse
from warehouse.queries import logs

log = logging.getLogger("lookout.dashboards")

QUERY_SCOPE = "query"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def create_app(settings: Settings, metrics_registry: CollectorRegistry | None = None) -> Flask:
    """The app; ``metrics_registry`` holds what /metrics reports (the node adds the pipeline's)."""
    app = Flask(__name__)
    registry = metrics_registry or CollectorRegistry()
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    authenticator = ApiKeyAuthenticator(settings.postgres_dsn, redis_client, settings.api_key_cache_ttl_s)
    local = threading.local()  # one ClickHouse client per serving thread

    def warehouse() -> Client:
        if getattr(local, "client", None) is None:
            local.client = clickhouse.connect(settings.clickhouse_dsn)
        return local.client

    @app.before_request
    def _require_query_key() -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return _error(401, "missing API key: send 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"})
        try:
            principal = authenticator.authenticate(key.strip())
        except AuthUnavailable:
            return _error(503, "cannot verify API keys right now", {"Retry-After": "5"})
        if principal is None:
            return _error(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
        if QUERY_SCOPE not in principal.scopes:
            return _error(403, f"this API key lacks the '{QUERY_SCOPE}' scope")
        g.principal = principal
        return None

    @app.errorhandler(BadParameter)
    def _bad_parameter(exc: BadParameter) -> Response:
        return _error(400, str(exc))

    @app.errorhandler(clickhouse.ClickHouseBadParameter)
    def _bad_query_parameter(exc: clickhouse.ClickHouseBadParameter) -> Response:
        return _error(400, f"a parameter is out of the warehouse's range: {exc}")

    @app.errorhandler(clickhouse.ClickHouseUnavailable)
    def _warehouse_down(exc: Exception) -> Response:
        log.warning("warehouse unavailable", extra={"error": str(exc)})
        return _error(503, "the warehouse is unavailable, retry shortly", {"Retry-After": "5"})

    @app.get("/api/v1/logs")
    def api_logs() -> Response:
        query = log_query(request.args)
        with clickhouse.translated():
            rows = logs.search(warehouse(), query)
        return jsonify({"logs": [_jsonable(row) for row in rows], "count": len(rows)})

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app


def _jsonable(row: dict) -> dict:
    out = dict(row)
    out["event_id"] = str(out["event_id"])
    ts = out["timestamp"]
    # chDB may hand DateTime64('UTC') back without its zone; the column is UTC either way.
    utc = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
    out["timestamp"] = utc.isoformat(timespec="milliseconds") + "Z"
    out["metadata"] = orjson.loads(out["metadata"]) if out.get("metadata") else {}
    return out
