"""The collector's OpenAPI 3.1 document, served at ``GET /openapi.json``. Pure: no I/O.

Kept in one place, and derived where it can be: the event schemas come from the contract's field
declarations (``lookout.contract.SCHEMAS``, the same ones that validate every event), the limits from
the settings the collector runs with. tests/integration/test_collector_openapi.py holds real answers of
every documented route to it, and fuzzes every operation with schemathesis.

What the document promises about validation: a body is refused as a whole (400/413/415) only when it
cannot be read as a batch; an event that breaks the contract is reported in the 202 answer's ``errors``
and the rest of its batch is kept. So a batch's items are documented with the event schemas but accept
any JSON value: that is the contract, not a looseness of the document.
"""

from __future__ import annotations

from typing import Any

from lookout.contract import ENVELOPE, KINDS, SCHEMAS, FieldSpec, FieldType
from lookout.contract.fields import RFC3339_PATTERN
from lookout.settings import Settings

JSON = "application/json"
NDJSON = "application/x-ndjson"
PROTOBUF = "application/x-protobuf"
TEXT = "text/plain"
_BEARER = [{"bearer": []}]
# The shippers' routes take the key the way their clients send credentials (collector/presented_key.py).
_SHIPPER_AUTH = [{"bearer": []}, {"basic": []}, {"apiKey": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _public(operation_id: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    """Probes and documents: no API key, nothing secret."""
    return {"get": {"operationId": operation_id, "summary": summary, "security": [], "tags": ["operations"],
                    "responses": responses}}


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.type is FieldType.STR:
        schema = {"type": "string", "maxLength": spec.max_len}
        if spec.min_len:
            schema["minLength"] = spec.min_len
        if spec.pattern:
            schema["pattern"] = f"^{spec.pattern}$"
    elif spec.type is FieldType.ENUM:
        # Aliases (``warning`` for ``warn``, any case) are accepted and stored as their canonical value.
        schema = {"type": "string", "enum": list(spec.choices)}
        if spec.aliases:
            schema["x-aliases"] = dict(spec.aliases)
    elif spec.type is FieldType.INT:
        schema = {"type": "integer", "minimum": spec.min_value, "maximum": spec.max_value}
    elif spec.type is FieldType.FLOAT:
        schema = {"type": "number"}
        if spec.min_value is not None:
            schema["minimum"] = spec.min_value
        if spec.max_value is not None:
            schema["maximum"] = spec.max_value
    elif spec.type is FieldType.BOOL:
        schema = {"type": "boolean"}
    elif spec.type is FieldType.JSON:
        schema = {"type": "object"} if spec.object_only else {"type": ["object", "array"]}
    elif spec.type is FieldType.IP:
        schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}, {"maxLength": 0}]}
    elif spec.type is FieldType.UUID:
        schema = {"type": "string", "format": "uuid"}
    else:
        schema = {"oneOf": [{"type": "string", "format": "date-time", "pattern": f"^{RFC3339_PATTERN}$"},
                            {"type": "integer", "minimum": 0}],
                  "description": "RFC 3339 with an offset, or epoch milliseconds"}
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def event_schema(kind: str) -> dict[str, Any]:
    """One kind's event: the envelope, then its columns; unknown fields land in ``metadata``."""
    specs = (*ENVELOPE, *SCHEMAS[kind])
    properties = {spec.name: _field_schema(spec) for spec in specs}
    properties["kind"] = {"const": kind}
    return {
        "type": "object",
        "required": [spec.name for spec in specs if spec.required],
        "properties": properties,
        "additionalProperties": True,
    }


def _schema_name(kind: str) -> str:
    return "".join(part.title() for part in kind.split("_")) + "Event"


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ref("Error")}}}
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_REQUEST_ID = {"X-Request-ID": {"description": "the request's id, also in the collector's log",
                                "schema": {"type": "string"}}}


def _refusals(*statuses: int, shape: dict[str, Any] | None = None) -> dict[str, Any]:
    """The refusals an ingest route may answer, in ``shape`` (the collector's error object by default)."""
    described = {
        400: "the body cannot be read as a batch (nothing was accepted)",
        401: "no API key, or an unknown or revoked one",
        403: "the key has no ingest scope",
        408: "the body was not received within LOOKOUT_COLLECTOR_BODY_TIMEOUT_S",
        413: "the body, its decompressed form, or its number of events is over the limit",
        415: "unsupported Content-Type or Content-Encoding",
        429: "the key's rate limit is exhausted",
        503: "event storage or key verification is unavailable, or the collector holds too many bodies",
    }
    answers: dict[str, Any] = {}
    for status in statuses:
        headers = _RETRY_AFTER if status in (429, 503) else None
        if shape is None:
            answers[str(status)] = _error(described[status], headers)
        else:
            answers[str(status)] = {"description": described[status], **shape, **({"headers": headers} if headers
                                                                                   else {})}
    return answers


_INGEST_REFUSALS = (400, 401, 403, 408, 413, 415, 429, 503)
_ENCODING = {"name": "Content-Encoding", "in": "header", "required": False,
             "schema": {"type": "string", "enum": ["gzip", "identity"]}}


def _events_operation(settings: Settings) -> dict[str, Any]:
    batch = {
        "type": "array", "minItems": 1, "maxItems": settings.max_events_per_request,
        "items": {"anyOf": [_ref("Event"), {}]},
    }
    return {
        "post": {
            "operationId": "ingest_events",
            "summary": "Send a batch of events",
            "tags": ["ingest"],
            "description": (
                f"A JSON array of events (or one event object), or NDJSON; gzip accepted. At most "
                f"{settings.max_body_bytes} bytes (also once decompressed), {settings.max_events_per_request} "
                f"events and {settings.max_event_bytes} bytes per event. A 202 is sent only once Kafka has "
                "acknowledged every accepted event; refused events are listed by index."
            ),
            "security": _BEARER,
            "parameters": [_ENCODING],
            "requestBody": {"required": True, "content": {
                JSON: {"schema": {"oneOf": [batch, {"type": "object"}]}},
                NDJSON: {"schema": {"type": "string", "description": "one JSON event per line"}},
            }},
            "responses": {
                "202": {"description": "accepted (durably in Kafka) and refused events",
                        "headers": _REQUEST_ID, "content": {JSON: {"schema": _ref("IngestResult")}}},
                **_refusals(*_INGEST_REFUSALS),
            },
        }
    }


def _otlp_operation(name: str, summary: str, response: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"otlp_{name}",
            "summary": summary,
            "tags": ["ingest"],
            "description": "OTLP/HTTP, JSON or protobuf encoding; answered in the request's encoding, with a "
                           "partialSuccess naming what was refused.",
            "security": _BEARER,
            "parameters": [_ENCODING],
            "requestBody": {"required": True, "content": {
                JSON: {"schema": {"type": "object"}},
                PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            }},
            "responses": {
                "200": {"description": "exported (refused records are counted in partialSuccess)", "content": {
                    JSON: {"schema": _ref(response)},
                    PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                }},
                **_refusals(*_INGEST_REFUSALS),
            },
        }
    }


def _otlp_response(rejected_field: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"partialSuccess": {
            "type": "object",
            # protobuf's JSON mapping writes 64-bit integers as strings
            "properties": {rejected_field: {"type": "string", "pattern": "^[0-9]+$"},
                           "errorMessage": {"type": "string"}},
            "additionalProperties": False,
        }},
        "additionalProperties": False,
    }


_ELASTIC_ERROR = {"content": {JSON: {"schema": _ref("ElasticError")}}}
_ELASTIC_PRODUCT = {"X-Elastic-Product": {"description": "checked by Elasticsearch's clients",
                                          "required": True, "schema": {"const": "Elasticsearch"}}}
_INDEX = {"name": "index", "in": "path", "required": True,
          "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
_SERVICE = {"name": "service", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
            "description": "the service of records that name none"}


def _elastic_read(operation_id: str, summary: str, parameters: list[dict[str, Any]],
                  methods: tuple[str, ...] = ("get",)) -> dict[str, Any]:
    return {method: {
        "operationId": f"{operation_id}_{method}", "summary": summary, "security": _SHIPPER_AUTH,
        "tags": ["shippers"], "parameters": parameters,
        "responses": {
            "200": {"description": "as Elasticsearch answers it", "headers": _ELASTIC_PRODUCT,
                    **({} if method == "head" else {"content": {JSON: {"schema": {"type": "object"}}}})},
            **_refusals(401, 403, 503, shape={} if method == "head" else _ELASTIC_ERROR),
        },
    } for method in methods}


def _elastic_bulk(operation_id: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    operation = {
        "summary": "Elasticsearch's bulk API (index and create actions)",
        "security": _SHIPPER_AUTH,
        "tags": ["shippers"],
        "parameters": [*parameters, _ENCODING],
        "requestBody": {"required": True, "content": {
            NDJSON: {"schema": {"type": "string", "description": "action line, then document line"}}}},
        "responses": {
            "200": {"description": "one item per action, each with its own status", "headers": _ELASTIC_PRODUCT,
                    "content": {JSON: {"schema": _ref("ElasticBulkResult")}}},
            **_refusals(*_INGEST_REFUSALS, shape=_ELASTIC_ERROR),
        },
    }
    return {method: {**operation, "operationId": f"{operation_id}_{method}"} for method in ("post", "put")}


def _json_records(operation_id: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"post": {
        "operationId": operation_id,
        "summary": "JSON log records as shippers' generic HTTP outputs send them (Vector, Fluent Bit, syslog-ng)",
        "security": _SHIPPER_AUTH,
        "tags": ["shippers"],
        "parameters": [*parameters, _ENCODING],
        "requestBody": {"required": True, "content": {
            JSON: {"schema": {"type": ["object", "array"]}},
            NDJSON: {"schema": {"type": "string", "description": "records one per line, or back to back"}},
        }},
        "responses": {
            "200": {"description": "accepted and refused records (200 even when some were refused: these tools "
                                   "resend a batch on any other status)",
                    "content": {JSON: {"schema": _ref("IngestResult")}}},
            **_refusals(*_INGEST_REFUSALS),
        },
    }}


def _loki_push() -> dict[str, Any]:
    text = {"content": {TEXT: {"schema": {"type": "string"}}}}
    return {"post": {
        "operationId": "loki_push",
        "summary": "Loki's push API",
        "security": _SHIPPER_AUTH,
        "tags": ["shippers"],
        "parameters": [_ENCODING],
        "requestBody": {"required": True, "content": {
            JSON: {"schema": {"type": "object", "required": ["streams"],
                              "properties": {"streams": {"type": "array", "items": {"type": "object"}}}}},
            PROTOBUF: {"schema": {"type": "string", "format": "binary",
                                  "description": "snappy-compressed logproto.PushRequest"}},
        }},
        "responses": {
            "204": {"description": "every entry was stored"},
            **_refusals(*_INGEST_REFUSALS, shape=text),
        },
    }}


def document(settings: Settings) -> dict[str, Any]:
    schemas: dict[str, Any] = {_schema_name(kind): event_schema(kind) for kind in KINDS}
    schemas.update({
        "Event": {"oneOf": [_ref(_schema_name(kind)) for kind in KINDS], "discriminator": {"propertyName": "kind"}},
        "IngestResult": {
            "type": "object",
            "required": ["accepted", "rejected", "errors"],
            "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "rejected": {"type": "integer", "minimum": 0},
                "errors": {"type": "array", "items": {
                    "type": "object", "required": ["index", "error"],
                    "properties": {"index": {"type": "integer", "minimum": 0}, "error": {"type": "string"}},
                    "additionalProperties": False,
                }},
            },
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "required": ["error", "request_id"],
            "properties": {"error": {"type": "string", "minLength": 1}, "request_id": {"type": ["string", "null"]}},
            "additionalProperties": False,
        },
        "ElasticError": {
            "type": "object", "required": ["error", "status"],
            "properties": {"error": {"type": "object", "required": ["type", "reason"]}, "status": {"type": "integer"}},
        },
        "ElasticBulkResult": {
            "type": "object", "required": ["took", "errors", "items"],
            "properties": {"took": {"type": "integer", "minimum": 0}, "errors": {"type": "boolean"},
                           "items": {"type": "array", "items": {"type": "object", "minProperties": 1,
                                                                "maxProperties": 1}}},
        },
        "ExportLogsServiceResponse": _otlp_response("rejectedLogRecords"),
        "ExportMetricsServiceResponse": _otlp_response("rejectedDataPoints"),
    })
    paths: dict[str, Any] = {
        "/v1/events": _events_operation(settings),
        "/v1/logs": _otlp_operation("logs", "OTLP/HTTP logs -> log events", "ExportLogsServiceResponse"),
        "/v1/metrics": _otlp_operation("metrics", "OTLP/HTTP metrics -> system_metric and api_metric events",
                                       "ExportMetricsServiceResponse"),
        "/healthz": _public("healthz", "Liveness: the process answers", {"200": _json_answer("alive", {
            "type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}})}),
        "/readyz": _public("readyz", "Readiness: Kafka, PostgreSQL and Redis answer", {
            "200": _json_answer("ready", _ref("Readiness")), "503": _json_answer("not ready", _ref("Readiness"))}),
        "/metrics": _public("metrics", "Prometheus metrics", {"200": {
            "description": "text exposition format", "content": {TEXT: {"schema": {"type": "string"}}}}}),
        "/openapi.json": _public("openapi", "This document", {"200": _json_answer("OpenAPI 3.1", {"type": "object"})}),
        "/v1/json": _json_records("json_records", []),
        "/v1/json/{service}": _json_records("json_records_for_service", [_SERVICE]),
        "/loki/api/v1/push": _loki_push(),
        "/_bulk": _elastic_bulk("elastic_bulk", []),
        "/{index}/_bulk": _elastic_bulk("elastic_index_bulk", [_INDEX]),
        "/": _elastic_read("elastic_info", "What Elasticsearch clients read first", [], ("get", "head")),
        "/_license": _elastic_read("elastic_license", "Elasticsearch's license (basic)", []),
        "/_xpack": _elastic_read("elastic_xpack", "Elasticsearch's features (none)", []),
        "/_refresh": _elastic_read("elastic_refresh", "A no-op: events are searchable once written", [],
                                   ("post", "get")),
        "/{index}/_refresh": _elastic_read("elastic_index_refresh", "A no-op", [_INDEX], ("post", "get")),
    }
    schemas["Readiness"] = {
        "type": "object", "required": ["ready", "checks"],
        "properties": {"ready": {"type": "boolean"}, "checks": {
            "type": "object", "required": ["kafka", "postgres", "redis"],
            "properties": {name: {"type": "boolean"} for name in ("kafka", "postgres", "redis")},
            "additionalProperties": False}},
        "additionalProperties": False,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lookout collector",
            "version": "1",
            "description": "The public ingestion API: Lookout's own batches, OTLP/HTTP, and the endpoints "
                           "existing shippers (Elasticsearch and Loki clients, Vector, Fluent Bit, syslog-ng) "
                           "already speak.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key with an ingest scope"},
                "basic": {"type": "http", "scheme": "basic", "description": "the API key as the password"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "'ApiKey <key>' or Elasticsearch's 'ApiKey base64(id:key)'"},
            },
        },
    }
