"""OTLP/HTTP export (``POST /v1/logs``, ``POST /v1/metrics``): the same path as /v1/events, answered the
OTLP way: 200 with a ``partialSuccess`` naming what was rejected, in the request's encoding."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from collector import intake, otlp
from collector.body import media_type
from collector.errors import ApiError
from collector.services import settings

blueprint = Blueprint("otlp_export", __name__)


@blueprint.post("/v1/logs")
def export_logs() -> Response:
    return _export(otlp.logs_from_otlp, ExportLogsServiceResponse, "rejected_log_records")


@blueprint.post("/v1/metrics")
def export_metrics() -> Response:
    return _export(otlp.metrics_from_otlp, ExportMetricsServiceResponse, "rejected_data_points")


def _export(
    mapper: Callable[[bytes, str | None], otlp.OtlpBatch], response_type: type[Message], rejected_field: str
) -> Response:
    principal, data = intake.authenticated_body()
    config = settings()
    content_type = request.headers.get("Content-Type")
    batch = mapper(intake.inflated(data), content_type)
    if len(batch.events) > config.max_events_per_request:
        raise ApiError(413, f"{len(batch.events)} records, more than the limit of {config.max_events_per_request}")
    accepted = intake.accept(batch.events, principal)
    rejected = batch.rejected + accepted.result.rejected
    reasons = batch.errors + sorted({str(e["error"]) for e in accepted.result.errors})
    message = response_type()
    if rejected:
        partial = message.partial_success  # type: ignore[attr-defined]
        setattr(partial, rejected_field, rejected)
        partial.error_message = "; ".join(reasons[:10])
    if media_type(content_type, otlp.OTLP_TYPES) == otlp.JSON_TYPE:
        response = Response(json_format.MessageToJson(message, indent=None), content_type="application/json")
    else:
        response = Response(message.SerializeToString(), content_type="application/x-protobuf")
    response.headers.update(accepted.rate_headers)
    return response
