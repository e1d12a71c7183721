"""``POST /v1/events``: Lookout's own batch format (a JSON array or NDJSON, optionally gzipped)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from collector import intake
from collector.body import BodyLimits, parse_body
from collector.errors import ApiError
from collector.services import settings

blueprint = Blueprint("events", __name__)


@blueprint.post("/v1/events")
def ingest_events() -> Response:
    principal, data = intake.authenticated_body()
    parsed = parse_body(
        data,
        request.headers.get("Content-Type"),
        request.headers.get("Content-Encoding"),
        BodyLimits.from_settings(settings()),
        intake.hold_body_bytes,
    )
    if not parsed.items:
        raise ApiError(400, "empty batch: send at least one event")
    accepted = intake.accept(parsed.items, principal)
    response = jsonify(accepted.result.body())
    response.status_code = 202
    response.headers.update(accepted.rate_headers)
    return response
