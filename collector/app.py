"""The collector's Flask app: the public ingestion API of the event contract.

Request flow: request id -> API key (401) -> body read within limits (413)
-> parse (400/415) -> validate each event -> rate limit (429) -> produce and
wait for the broker's acknowledgement (503) -> 202 with per-event errors.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import Flask, Response, g, jsonify, request
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from collector import otlp, packing, prometheus
from collector.body import BodyError, BodyLimits, BodyTooLarge, inflate, parse_body
from collector.producer import EventProducer, KafkaUnavailable
from collector.ratelimit import RateLimiter, rate_limit_event
from access.auth import ApiKeyAuthenticator, AuthUnavailable, Principal
from lookout.settings import Settings

log = logging.getLogger("lookout.collector")

RETRY_AFTER_UNAVAILABLE_S = 5
RATE_LIMIT_REPORT_WINDOW_S = 60


@dataclass
class CollectorServices:
    """The collector's connections to the outside world, built once per process."""

    authenticator: ApiKeyAuthenticator
    limiter: RateLimiter
    producer: EventProducer
    redis: redis.Redis

    @classmethod
    def from_settings(cls, settings: Settings) -> CollectorServices:
        redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(
            authenticator=ApiKeyAuthenticator(settings.postgres_dsn, redis_client, settings.api_key_cache_ttl_s),
            limiter=RateLimiter(redis_client),
            producer=EventProducer(settings),
            redis=redis_client,
        )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": message, "request_id": g.get("request_id")})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def create_app(settings: Settings, services: CollectorServices | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None  # we bound reads ourselves, see _read_body
    svc = services or CollectorServices.from_settings(settings)
    limits = BodyLimits(
        max_body_bytes=settings.max_body_bytes,
        max_events=settings.max_events_per_request,
        max_event_bytes=settings.max_event_bytes,
    )
    app.extensions["lookout.collector"] = svc

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        # Honour a caller's id only when it is sane to echo into headers and logs.
        g.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        g.started = time.perf_counter()
        if request.path.startswith("/v1/"):
            prometheus.IN_FLIGHT.inc()
            g.in_flight = True

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        if g.pop("in_flight", False):
            prometheus.IN_FLIGHT.dec()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.path.startswith("/v1/"):
            elapsed = time.perf_counter() - g.get("started", time.perf_counter())
            prometheus.REQUEST_SECONDS.labels(request.path).observe(elapsed)
            prometheus.REQUESTS.labels(request.path, str(response.status_code)).inc()
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

    @app.errorhandler(404)
    def _not_found(_exc: Exception) -> Response:
        return error(404, f"no such endpoint: {request.path}")

    @app.errorhandler(405)
    def _method_not_allowed(_exc: Exception) -> Response:
        return error(405, f"{request.method} is not allowed on {request.path}")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return error(500, "internal error; the request id identifies it in the collector's log")

    def _authenticate() -> Principal | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return error(401, "missing API key: send 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"})
        try:
            principal = svc.authenticator.authenticate(key.strip())
        except AuthUnavailable:
            return error(503, "cannot verify API keys right now", {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)})
        if principal is None:
            return error(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
        g.key_name = principal.name
        return principal

    def _read_body() -> bytes | Response:
        declared = request.content_length
        if declared is not None and declared > settings.max_body_bytes:
            return error(413, f"body of {declared} bytes is larger than the limit of {settings.max_body_bytes}")
        data = request.stream.read(settings.max_body_bytes + 1)
        if len(data) > settings.max_body_bytes:
            return error(413, f"body is larger than the limit of {settings.max_body_bytes} bytes")
        return data

    def _authenticated_body() -> tuple[Principal, bytes] | Response:
        """The caller's principal and the raw body, or the 401/413/503 that ends the request."""
        principal = _authenticate()
        if isinstance(principal, Response):
            return principal
        data = _read_body()
        if isinstance(data, Response):
            return data
        return principal, data

    @app.post("/v1/events")
    def ingest_events() -> Response:
        received = _authenticated_body()
        if isinstance(received, Response):
            return received
        principal, data = received
        try:
            parsed = parse_body(
                data, request.headers.get("Content-Type"), request.headers.get("Content-Encoding"), limits
            )
        except BodyTooLarge as exc:
            return error(413, str(exc))
        except BodyError as exc:
            return error(exc.status, str(exc))
        if not parsed.items:
            return error(400, "empty batch: send at least one event")
        outcome = _accept(parsed.items, principal)
        if isinstance(outcome, Response):
            return outcome
        result, rate_headers = outcome
        response = jsonify(result.body())
        response.status_code = 202
        response.headers.update(rate_headers)
        return response

    def _accept(items: list[object], principal: Principal) -> tuple[packing.IngestResult, dict[str, str]] | Response:
        """Validate, rate-limit and produce; the events are durable in Kafka when this returns a result."""
        result = packing.build_records(
            items,
            now_ms=int(time.time() * 1000),
            may_send=principal.may_send,
            topic_for=settings.topic,
            max_event_bytes=settings.max_event_bytes,
        )
        for reason, count in result.rejected_by_reason.items():
            prometheus.EVENTS_REJECTED.labels(reason).inc(count)
        rate_headers: dict[str, str] = {}
        if not result.accepted:
            return result, rate_headers
        decision = svc.limiter.check(
            principal.key_id, principal.rate_limit_per_s or settings.default_rate_limit_per_s, result.accepted
        )
        if decision is not None:
            rate_headers = decision.headers()
            if not decision.allowed:
                prometheus.EVENTS_REJECTED.labels("rate_limited").inc(result.accepted)
                _report_rate_limited(principal, decision.limit)
                return error(429, "rate limit exceeded for this API key", rate_headers)
        try:
            svc.producer.send_all(result.records)
        except KafkaUnavailable as exc:
            prometheus.PRODUCE_ERRORS.inc()
            prometheus.EVENTS_REJECTED.labels("unavailable").inc(result.accepted)
            log.warning("produce failed", extra={"request_id": g.request_id, "error": str(exc)})
            return error(
                503,
                "event storage is unavailable; nothing from this request was accepted, retry later",
                {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)},
            )
        for kind, count in result.accepted_by_kind.items():
            prometheus.EVENTS_ACCEPTED.labels(kind).inc(count)
        return result, rate_headers

    def _report_rate_limited(principal: Principal, limit: int) -> None:
        """A security_event for a throttled key, at most once per window per key (best effort)."""
        try:
            if not svc.redis.set(
                f"lookout:ratelimit:reported:{principal.key_id}", 1, nx=True, ex=RATE_LIMIT_REPORT_WINDOW_S
            ):
                return
        except redis.RedisError:
            return
        event = rate_limit_event(principal, limit, request.remote_addr or "", request.path, int(time.time() * 1000))
        try:
            svc.producer.send_all(
                packing.build_records(
                    [event],
                    now_ms=event["timestamp"],
                    may_send=lambda _kind: True,
                    topic_for=settings.topic,
                    max_event_bytes=settings.max_event_bytes,
                ).records
            )
        except KafkaUnavailable:
            log.warning("could not record a rate_limit_exceeded security event", extra={"key": principal.name})

    @app.post("/v1/logs")
    def otlp_logs() -> Response:
        return _otlp(otlp.logs_from_otlp, ExportLogsServiceResponse, "rejected_log_records")

    @app.post("/v1/metrics")
    def otlp_metrics() -> Response:
        return _otlp(otlp.metrics_from_otlp, ExportMetricsServiceResponse, "rejected_data_points")

    def _otlp(
        mapper: Callable[[bytes, str | None], otlp.OtlpBatch], response_type: type, rejected_field: str
    ) -> Response:
        """OTLP/HTTP export: the same path as /v1/events, answered the OTLP way (200 + partialSuccess)."""
        received = _authenticated_body()
        if isinstance(received, Response):
            return received
        principal, data = received
        content_type = request.headers.get("Content-Type")
        try:
            raw = inflate(data, request.headers.get("Content-Encoding"), settings.max_body_bytes)
            batch = mapper(raw, content_type)
        except BodyError as exc:
            return error(exc.status, str(exc))
        if len(batch.events) > settings.max_events_per_request:
            return error(413, f"{len(batch.events)} records, more than the limit of {settings.max_events_per_request}")
        outcome = _accept(list(batch.events), principal)
        if isinstance(outcome, Response):
            return outcome
        result, rate_headers = outcome
        rejected = batch.rejected + result.rejected
        reasons = batch.errors + sorted({str(e["error"]) for e in result.errors})
        message = response_type()
        if rejected:
            partial = message.partial_success
            setattr(partial, rejected_field, rejected)
            partial.error_message = "; ".join(reasons[:10])
        if otlp.media_type(content_type, otlp.OTLP_TYPES) == otlp.JSON_TYPE:
            body = json_format.MessageToJson(message, indent=None).encode()
            response = Response(body, status=200, content_type="application/json")
        else:
            response = Response(message.SerializeToString(), status=200, content_type="application/x-protobuf")
        response.headers.update(rate_headers)
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        """The process is alive (for a liveness probe: restart me if this fails)."""
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        """Every dependency answers (for a readiness probe: send me traffic only if this passes)."""
        checks = {
            "kafka": svc.producer.healthy(),
            "postgres": svc.authenticator.healthy(),
            "redis": _redis_ok(svc.redis),
        }
        response = jsonify({"ready": all(checks.values()), "checks": checks})
        response.status_code = 200 if all(checks.values()) else 503
        return response

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        body, content_type = prometheus.render()
        return Response(body, content_type=content_type)

    return app


def _redis_ok(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
