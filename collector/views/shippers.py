"""``POST /v1/json`` and ``POST /v1/json/<service>``: JSON log records as shippers' generic HTTP outputs
send them (Vector's ``http`` sink, Fluent Bit's ``http`` output in its JSON formats and its default
MessagePack, syslog-ng's ``http()``, rsyslog's ``omhttp``), mapped through collector.field_mapping; the
service in the path is used for records that name none.

Answered with the body of ``POST /v1/events`` (accepted, rejected, per-record errors) but status 200, even
when some records were refused: these tools resend a batch on any other status, which would store its good
records twice, and winston's Http transport counts anything but 200 as a failure.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify, request

from collector import fluent_msgpack, intake
from collector.body import BadItem, BodyLimits
from collector.errors import ApiError
from collector.field_mapping import map_document
from collector.json_documents import parse_documents
from collector.presented_key import presented_key
from collector.services import settings

blueprint = Blueprint("shippers", __name__)


@blueprint.post("/v1/json")
@blueprint.post("/v1/json/<service>")
def ingest_json(service: str | None = None) -> Response:
    key = presented_key(request.headers.get("Authorization"))
    if key is None:
        raise ApiError(
            401, "missing API key: send 'Authorization: Bearer <key>' or the key as the basic auth password",
            {"WWW-Authenticate": "Bearer, Basic"},
        )
    principal = intake.principal_for(key)
    limits = BodyLimits.from_settings(settings())
    body = intake.inflated(intake.read_body())
    if request.mimetype == fluent_msgpack.CONTENT_TYPE:  # Fluent Bit's default format
        records = fluent_msgpack.parse_records(body, limits)
    else:
        records = parse_documents(body, limits)
    received_ms = int(time.time() * 1000)
    items = [
        map_document(record, default_kind=principal.default_kind, received_ms=received_ms, fallback_service=service)
        if type(record) is dict
        else record if isinstance(record, BadItem) else BadItem("each log record must be a JSON object")
        for record in records
    ]
    accepted = intake.accept(items, principal)
    response = jsonify(accepted.result.body())
    response.headers.update(accepted.rate_headers)
    return response
