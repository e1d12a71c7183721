"""The Elasticsearch endpoints shippers call: ``GET|HEAD /``, ``GET /_license``, ``GET /_xpack``,
``POST [/{index}]/_refresh`` (a no-op) and ``POST|PUT [/{index}]/_bulk``, answered in Elasticsearch's
shapes so its official clients, Filebeat, Logstash and the Winston and pino transports write to Lookout by
changing only their URL and key.

Every answer carries ``X-Elastic-Product: Elasticsearch``, which the official clients (8 and later) check
before they trust a response; every refusal has Elasticsearch's error shape, its 401 included.
"""

from __future__ import annotations

import time
import uuid

from flask import Blueprint, Response, jsonify, request

from access.auth import Principal
from collector import elastic, intake
from collector.body import BodyError, BodyLimits, media_type
from collector.errors import ApiError
from collector.presented_key import presented_key
from collector.services import settings

blueprint = Blueprint("elastic", __name__)

PRODUCT_HEADER = ("X-Elastic-Product", "Elasticsearch")
# A stable id for this installation is not needed by any client; one per process is honest about that.
_CLUSTER_UUID = uuid.uuid4().hex
_CHALLENGES = ('Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey")


def _authenticate() -> Principal:
    key = presented_key(request.headers.get("Authorization"))
    if key is None:
        raise ApiError(401, "missing authentication credentials for REST request [" + request.path + "]")
    return intake.principal_for(key)


@blueprint.route("/", methods=["GET", "HEAD"])
def root() -> Response:
    _authenticate()
    return jsonify(elastic.root_document(_CLUSTER_UUID))


@blueprint.get("/_license")
def license_info() -> Response:
    _authenticate()
    return jsonify({"license": {"status": "active", "uid": _CLUSTER_UUID, "type": "basic", "mode": "basic"}})


@blueprint.get("/_xpack")
def xpack() -> Response:
    _authenticate()
    return jsonify(
        {
            "build": {"hash": "", "date": ""},
            "license": {"uid": _CLUSTER_UUID, "type": "basic", "mode": "basic", "status": "active"},
            "features": {},
        }
    )


# Clients' bulk helpers (pino-elasticsearch's, through the JavaScript client) refresh the index when done.
# Lookout has nothing to refresh: an event is searchable once the pipeline has written it.
@blueprint.route("/_refresh", methods=["POST", "GET"])
@blueprint.route("/<index>/_refresh", methods=["POST", "GET"])
def refresh(index: str | None = None) -> Response:
    _authenticate()
    return jsonify({"_shards": {"total": 1, "successful": 1, "failed": 0}})


# Elasticsearch takes PUT as well as POST here, and its Python client 9 sends PUT.
@blueprint.route("/_bulk", methods=["POST", "PUT"])
@blueprint.route("/<index>/_bulk", methods=["POST", "PUT"])
def bulk(index: str | None = None) -> Response:
    started = time.perf_counter()
    principal = _authenticate()
    media_type(request.headers.get("Content-Type"), elastic.BULK_TYPES)
    data = intake.read_body()
    limits = BodyLimits.from_settings(settings())
    items = elastic.parse_bulk(
        intake.inflated(data),
        default_index=index,
        default_kind=principal.default_kind,
        received_ms=int(time.time() * 1000),
        max_items=limits.max_events,
        max_event_bytes=limits.max_event_bytes,
    )
    accepted = intake.accept([item.event for item in items], principal, keep_ids=True)
    took_ms = round((time.perf_counter() - started) * 1000)
    response = Response(elastic.bulk_response(items, accepted.result, took_ms), content_type="application/json")
    response.headers.update(accepted.rate_headers)
    return response


def _refusal(status: int, reason: str, headers: dict[str, str]) -> Response:
    response = jsonify(elastic.error_body(status, reason))
    response.status_code = status
    response.headers.update(headers)
    if status == 401:
        response.headers.pop("WWW-Authenticate", None)
        for challenge in _CHALLENGES:
            response.headers.add("WWW-Authenticate", challenge)
    return response


@blueprint.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return _refusal(exc.status, exc.message, exc.headers)


@blueprint.errorhandler(BodyError)
def _body_error(exc: BodyError) -> Response:
    return _refusal(exc.status, exc.reason, {})


@blueprint.after_request
def _product(response: Response) -> Response:
    response.headers[PRODUCT_HEADER[0]] = PRODUCT_HEADER[1]
    return response
