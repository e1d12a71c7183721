"""OTLP/HTTP logs and metrics -> Lookout raw events, so any OpenTelemetry SDK or Collector can ship
to Lookout unchanged.

The output is raw event dicts that still go through ``lookout.contract.validate_event``: this module
only translates, the contract decides. Both encodings are supported. OTLP/JSON is walked as decoded by
orjson; protobuf is walked directly on the upb message objects rather than converted with
``json_format.MessageToDict`` (which costs ~27 µs per log record, several times the rest of ingestion).
Each encoding has a thin reader that normalizes one record (attributes to plain dicts, ids to hex,
int64 strings to ints) and hands it to a single mapper per signal, so the mapping rules exist once.

Mapping rules (see also the function docstrings):

* Resource ``service.name`` -> ``service`` (characters the contract does not allow become "_"; missing ->
  "unknown_service"); ``service.instance.id``, else ``host.name`` -> ``instance``. The remaining
  resource attributes, the scope and OTLP-only details go to ``metadata["otel"]``; record / data point
  attributes go to the top level of ``metadata`` unless they were moved into a column.
* An attribute moves into a column only if its value is valid for that column; otherwise it stays in
  metadata, so a surprising value never costs the whole record.
* Non-finite doubles inside attributes become the strings "NaN", "Infinity", "-Infinity" (JSON cannot hold
  them); a non-finite metric value is rejected instead, since it is the measurement itself.
* Data points flagged NO_RECORDED_VALUE (staleness markers) and histogram points with count 0 carry no
  measurement and are skipped without counting as rejected.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import orjson
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from collector.body import MalformedBody, media_type
from lookout.contract import HTTP_METHODS, LEVEL_ALIASES, LEVELS, field_spec
from lookout.contract.fields import FieldError, compile_checker

JSON_TYPE = "application/json"
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
OTLP_TYPES = frozenset({JSON_TYPE}) | PROTOBUF_TYPES

UNKNOWN_SERVICE = "unknown_service"
# OpenTelemetry leaves http.route out when no route matched (typically a 404); api_metric needs an endpoint.
UNMATCHED_ROUTE = "(unmatched)"
MAX_ERROR_REASONS = 20
_NO_RECORDED_VALUE = 1

# Severity numbers come in blocks of four: TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR 17-20, FATAL 21-24.
_LEVEL_BY_BLOCK = ("trace", "debug", "info", "warn", "error", "error")
_TEMPORALITY = {1: "delta", 2: "cumulative"}
# HTTP server duration histograms that become api_metric rows, with the unit their semantic convention
# version uses when the metric itself leaves the unit empty.
HTTP_SERVER_DURATIONS: Mapping[str, str] = {"http.server.request.duration": "s", "http.server.duration": "ms"}
_MS_PER_UNIT = {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 0.000001}
_SERVICE_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/-]")
_UNIT_MAX = field_spec("system_metric", "unit").max_len


class _Unmappable(ValueError):
    """One record or data point cannot be translated; the rest of the request goes on."""


@dataclass(slots=True)
class OtlpBatch:
    """Raw events ready for validate_event, plus what could not be mapped (for OTLP's partialSuccess)."""

    events: list[dict[str, object]] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)  # distinct reasons, at most MAX_ERROR_REASONS

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERROR_REASONS and reason not in self.errors:
            self.errors.append(reason)


@dataclass(frozen=True, slots=True)
class _Resource:
    service: str
    instance: str
    otel: dict[str, object]  # resource attributes not consumed above, and the scope: metadata["otel"] base


# --- shared mapping rules -------------------------------------------------------------------------


def _json_safe_double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _resource(attributes: dict[str, object], scope_name: str, scope_version: str) -> _Resource:
    remaining = dict(attributes)
    name = remaining.get("service.name")
    service = UNKNOWN_SERVICE
    if type(name) is str and name:
        service = _SERVICE_UNSAFE.sub("_", name)[:128]
        if service == name:  # otherwise the original spelling stays in metadata
            del remaining["service.name"]
    instance = ""
    for key in ("service.instance.id", "host.name"):
        value = remaining.get(key)
        if type(value) is str and 0 < len(value) <= 128 and "\x00" not in value:
            instance = value
            del remaining[key]
            break
    otel: dict[str, object] = {}
    if remaining:
        otel["resource"] = remaining
    scope = {k: v for k, v in (("name", scope_name), ("version", scope_version)) if v}
    if scope:
        otel["scope"] = scope
    return _Resource(service, instance, otel)


def _metadata(attributes: dict[str, object], otel: dict[str, object]) -> dict[str, object]:
    if otel:
        if "otel" in attributes:  # our key must not overwrite an application attribute of the same name
            attributes["otel_attribute"] = attributes.pop("otel")
        attributes["otel"] = otel
    return attributes


def _base_event(kind: str, res: _Resource, time_ns: int) -> dict[str, object]:
    event: dict[str, object] = {"kind": kind, "service": res.service}
    if res.instance:
        event["instance"] = res.instance
    if time_ns:
        # Left out when zero so the contract reports the missing timestamp in its own words.
        event["timestamp"] = time_ns // 1_000_000
    return event


def _column_checks(kind: str, names: Iterable[str]) -> dict[str, Callable[[object], object]]:
    return {name: compile_checker(field_spec(kind, name)) for name in names}


def _move(event: dict[str, object], attributes: dict[str, object], column: str, keys: tuple[str, ...],
          check: Callable[[object], object]) -> None:
    """Move the first attribute of ``keys`` that is valid for ``column`` out of the attributes."""
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        try:
            event[column] = check(value)
        except FieldError:
            continue
        del attributes[key]
        return


_LOG_CHECKS = _column_checks("log", (
    "endpoint", "method", "status_code", "user_id", "session_id", "ip_address", "user_agent",
    "error_code", "error_message", "error_stack", "event_type",
))
# Current semantic conventions first, then the pre-1.20 HTTP names still emitted by older instrumentations.
_LOG_ATTRIBUTE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("endpoint", ("http.route", "url.path")),
    ("method", ("http.request.method", "http.method")),
    ("status_code", ("http.response.status_code", "http.status_code")),
    ("user_id", ("enduser.id", "user.id")),
    ("session_id", ("session.id",)),
    ("ip_address", ("client.address",)),
    ("user_agent", ("user_agent.original",)),
    ("error_code", ("exception.type",)),
    ("error_message", ("exception.message",)),
    ("error_stack", ("exception.stacktrace",)),
    ("event_type", ("event.name",)),
)


def _level(severity_number: int, severity_text: str) -> str:
    if 1 <= severity_number <= 24:
        return _LEVEL_BY_BLOCK[(severity_number - 1) // 4]
    text = severity_text.lower()
    if text in LEVELS:
        return text
    # Unspecified severity: "info" is what most backends assume; the text is kept in metadata.
    return LEVEL_ALIASES.get(text, "info")


def _message(body: object) -> str:
    if body is None:
        return ""
    if type(body) is str:
        return body
    return orjson.dumps(body).decode()


def _log_event(res: _Resource, *, time_ns: int, observed_ns: int, severity_number: int, severity_text: str,
               body: object, attributes: dict[str, object], trace_id: str, span_id: str,
               event_name: str) -> dict[str, object]:
    """One LogRecord -> one ``log`` event."""
    event = _base_event("log", res, time_ns or observed_ns)
    event["level"] = _level(severity_number, severity_text)
    event["message"] = _message(body)
    otel = dict(res.otel)
    if trace_id:
        event["correlation_id"] = trace_id
    if span_id:
        otel["span_id"] = span_id
    if severity_text:
        otel["severity_text"] = severity_text
    if event_name:
        try:
            event["event_type"] = _LOG_CHECKS["event_type"](event_name)
        except FieldError:
            otel["event_name"] = event_name
    for column, keys in _LOG_ATTRIBUTE_COLUMNS:
        if column not in event:
            _move(event, attributes, column, keys, _LOG_CHECKS[column])
    event["metadata"] = _metadata(attributes, otel)
    return event


_API_CHECKS = _column_checks("api_metric", ("endpoint", "method", "status_code"))
_API_ATTRIBUTE_COLUMNS = (
    ("method", ("http.request.method", "http.method"), f"one of {', '.join(HTTP_METHODS)}"),
    ("status_code", ("http.response.status_code", "http.status_code"), "an HTTP status code (100..599)"),
)


def _http_duration_event(res: _Resource, otel: dict[str, object], *, name: str, unit: str, time_ns: int,
                         mean: float, attributes: dict[str, object]) -> dict[str, object]:
    """An HTTP server duration histogram point -> one ``api_metric`` row with the mean duration."""
    scale = _MS_PER_UNIT.get(unit or HTTP_SERVER_DURATIONS[name])
    if scale is None:
        raise _Unmappable(f"{name}: unsupported duration unit {unit!r}")
    event = _base_event("api_metric", res, time_ns)
    event["response_time_ms"] = mean * scale
    _move(event, attributes, "endpoint", ("http.route",), _API_CHECKS["endpoint"])
    event.setdefault("endpoint", UNMATCHED_ROUTE)
    for column, keys, expected in _API_ATTRIBUTE_COLUMNS:
        _move(event, attributes, column, keys, _API_CHECKS[column])
        if column not in event:
            found = next((attributes[k] for k in keys if attributes.get(k) is not None), None)
            if found is None:
                raise _Unmappable(f"{name}: data point has no {keys[0]} attribute")
            raise _Unmappable(f"{name}: {keys[0]} {found!r:.40} is not {expected}")
    event["metadata"] = _metadata(attributes, otel)
    return event


def _system_metric_event(res: _Resource, otel: dict[str, object], *, name: str, unit: str, time_ns: int,
                         value: float, attributes: dict[str, object]) -> dict[str, object]:
    event = _base_event("system_metric", res, time_ns)
    # "system.cpu.utilization" -> "system"; Prometheus-style "node_cpu_seconds_total" -> "node".
    prefix = name.split(".", 1)[0] if "." in name else name.split("_", 1)[0]
    event["metric_type"] = (prefix or name)[:50]
    event["metric_name"] = name
    event["value"] = value
    if len(unit) <= _UNIT_MAX:
        event["unit"] = unit
    else:
        otel["unit"] = unit
    event["metadata"] = _metadata(attributes, otel)
    return event


def _number_point(res: _Resource, batch: OtlpBatch, metric_otel: dict[str, object], *, name: str,
                  unit: str, time_ns: int, value: float | None, attributes: dict[str, object],
                  flags: int) -> None:
    """A gauge or sum data point -> one ``system_metric`` row."""
    if flags & _NO_RECORDED_VALUE:
        return
    if value is None:
        batch.reject(f"{name}: data point has no value")
    elif not math.isfinite(value):
        batch.reject(f"{name}: value {value} is not a finite number")
    else:
        batch.events.append(_system_metric_event(res, dict(metric_otel), name=name, unit=unit, time_ns=time_ns,
                                                 value=value, attributes=attributes))


def _distribution_point(res: _Resource, batch: OtlpBatch, metric_otel: dict[str, object], *, name: str,
                        unit: str, time_ns: int, count: int, total: float | None, minimum: float | None,
                        maximum: float | None, attributes: dict[str, object], flags: int,
                        histogram: bool) -> None:
    """A histogram / exponential histogram / summary point: the mean (sum/count) becomes the value.

    HTTP server duration histograms become ``api_metric`` rows (response_time_ms in milliseconds), every
    other distribution a ``system_metric``. With cumulative temporality the mean is over the whole
    start..time window, which is why count and temporality are kept in metadata.
    """
    if flags & _NO_RECORDED_VALUE or count == 0:
        return
    if total is None:
        batch.reject(f"{name}: data point has no sum")
        return
    otel = dict(metric_otel)
    otel["count"] = count
    if minimum is not None:
        otel["min"] = _json_safe_double(minimum)
    if maximum is not None:
        otel["max"] = _json_safe_double(maximum)
    mean = total / count
    if not math.isfinite(mean):
        batch.reject(f"{name}: sum {total} is not a finite number")
        return
    try:
        if histogram and name in HTTP_SERVER_DURATIONS:
            event = _http_duration_event(res, otel, name=name, unit=unit, time_ns=time_ns, mean=mean,
                                         attributes=attributes)
        else:
            event = _system_metric_event(res, otel, name=name, unit=unit, time_ns=time_ns, value=mean,
                                         attributes=attributes)
    except _Unmappable as exc:
        batch.reject(str(exc))
        return
    batch.events.append(event)


def _metric_otel(res: _Resource, aggregation: str, temporality: int | None,
                 monotonic: bool | None) -> dict[str, object]:
    otel = dict(res.otel)
    otel["aggregation"] = aggregation
    if temporality in _TEMPORALITY:
        otel["temporality"] = _TEMPORALITY[temporality]
    if monotonic is not None:
        otel["monotonic"] = monotonic
    return otel


# --- OTLP/JSON reader -------------------------------------------------------------------------------


def _load_json(data: bytes) -> dict[str, object]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"invalid JSON: {exc}") from None
    if type(doc) is not dict:
        raise MalformedBody("OTLP/JSON body must be an object")
    return doc


def _objects(parent: Mapping[str, object], key: str) -> list[dict[str, object]]:
    value = parent.get(key)
    if value is None:
        return []
    if type(value) is not list or any(type(item) is not dict for item in value):
        raise MalformedBody(f"{key} must be an array of objects")
    return value  # type: ignore[return-value]


def _object(parent: Mapping[str, object], key: str) -> dict[str, object]:
    value = parent.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise MalformedBody(f"{key} must be an object")
    return value  # type: ignore[return-value]


def _json_int(value: object, what: str) -> int:
    # Protobuf's JSON mapping writes 64-bit integers as strings; numbers are accepted as well.
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    if value is None:
        return 0
    raise _Unmappable(f"{what} must be an integer, got {value!r:.40}")


def _json_double(value: object, what: str) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if type(value) is str:
        try:
            return float(value)  # proto3 JSON spells non-finite doubles "NaN", "Infinity", "-Infinity"
        except ValueError:
            pass
    raise _Unmappable(f"{what} must be a number, got {value!r:.40}")


def _json_enum(value: object, names: Callable[[str], int], what: str) -> int:
    if type(value) is str and not value.lstrip("-").isdigit():
        try:
            return names(value)  # enum names are tolerated although OTLP/JSON specifies integers
        except ValueError:
            raise _Unmappable(f"{what}: unknown value {value!r:.40}") from None
    return _json_int(value, what)


def _json_any(value: object) -> object:
    if value is None:
        return None
    if type(value) is not dict:
        raise _Unmappable("attribute value must be an AnyValue object")
    for key, inner in value.items():
        if key == "stringValue":
            if type(inner) is not str:
                raise _Unmappable("stringValue must be a string")
            return inner
        if key == "intValue":
            return _json_int(inner, "intValue")
        if key == "doubleValue":
            return _json_safe_double(_json_double(inner, "doubleValue"))
        if key == "boolValue":
            if type(inner) is not bool:
                raise _Unmappable("boolValue must be a boolean")
            return inner
        if key == "arrayValue":
            if type(inner) is not dict:
                raise _Unmappable("arrayValue must be an object")
            values = inner.get("values") or []
            if type(values) is not list:
                raise _Unmappable("arrayValue.values must be an array")
            return [_json_any(item) for item in values]
        if key == "kvlistValue":
            if type(inner) is not dict:
                raise _Unmappable("kvlistValue must be an object")
            return _json_attributes(inner.get("values"))
        if key == "bytesValue":
            if type(inner) is not str:
                raise _Unmappable("bytesValue must be a base64 string")
            return inner  # kept base64-encoded: metadata is JSON text
    return None  # an empty AnyValue is OTLP's null


def _json_attributes(value: object) -> dict[str, object]:
    if not value:
        return {}
    if type(value) is not list:
        raise _Unmappable("attributes must be an array of key/value objects")
    out: dict[str, object] = {}
    for item in value:
        if type(item) is not dict or type(item.get("key")) is not str:
            raise _Unmappable("attributes must be an array of key/value objects")
        out[item["key"]] = _json_any(item.get("value"))
    return out


def _json_id(value: object, size: int, what: str) -> str:
    """A trace/span id as lowercase hex ("" when absent or all zeros, which OTLP defines as invalid)."""
    if not value:
        return ""
    if type(value) is str:
        if len(value) == size * 2:
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raw = b""
        else:
            # OTLP/JSON specifies hex, but exporters built on a generic protobuf JSON encoder send base64.
            try:
                raw = base64.b64decode(value, validate=True)
            except binascii.Error:
                raw = b""
        if len(raw) == size:
            return raw.hex() if any(raw) else ""
    raise _Unmappable(f"{what} must be {size} bytes ({size * 2} hex digits)")


def _json_resource(block: dict[str, object], scope_key: str) -> Iterable[tuple[_Resource, dict[str, object]]]:
    """(resource, scope block) pairs of one resourceLogs/resourceMetrics element."""
    try:
        attributes = _json_attributes(_object(block, "resource").get("attributes"))
        for scope_block in _objects(block, scope_key):
            scope = _object(scope_block, "scope")
            name, version = scope.get("name") or "", scope.get("version") or ""
            if type(name) is not str or type(version) is not str:
                raise MalformedBody("scope name and version must be strings")
            yield _resource(attributes, name, version), scope_block
    except _Unmappable as exc:
        # A broken resource would poison every record under it, so this is the body's fault, not a record's.
        raise MalformedBody(f"resource or scope: {exc}") from None


def _logs_from_json(data: bytes, batch: OtlpBatch) -> None:
    doc = _load_json(data)
    for block in _objects(doc, "resourceLogs"):
        for res, scope_block in _json_resource(block, "scopeLogs"):
            for record in _objects(scope_block, "logRecords"):
                try:
                    event_name = record.get("eventName") or ""
                    severity_text = record.get("severityText") or ""
                    if type(event_name) is not str or type(severity_text) is not str:
                        raise _Unmappable("severityText and eventName must be strings")
                    event = _log_event(
                        res,
                        time_ns=_json_int(record.get("timeUnixNano"), "timeUnixNano"),
                        observed_ns=_json_int(record.get("observedTimeUnixNano"), "observedTimeUnixNano"),
                        severity_number=_json_enum(record.get("severityNumber"), SeverityNumber.Value,
                                                   "severityNumber"),
                        severity_text=severity_text,
                        body=_json_any(record.get("body")),
                        attributes=_json_attributes(record.get("attributes")),
                        trace_id=_json_id(record.get("traceId"), 16, "traceId"),
                        span_id=_json_id(record.get("spanId"), 8, "spanId"),
                        event_name=event_name,
                    )
                except _Unmappable as exc:
                    batch.reject(f"log record: {exc}")
                    continue
                batch.events.append(event)


def _json_metric(res: _Resource, metric: dict[str, object], batch: OtlpBatch) -> None:
    name, unit = metric.get("name"), metric.get("unit") or ""
    if type(name) is not str or not name or type(unit) is not str:
        raise MalformedBody("metric name and unit must be strings, name non-empty")
    for aggregation in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
        data = metric.get(aggregation)
        if data is not None:
            break
    else:
        return  # a metric without data (or of a type newer than this mapper) has no points to lose
    if type(data) is not dict:
        raise MalformedBody(f"{name}: {aggregation} must be an object")
    try:
        temporality = _json_enum(data.get("aggregationTemporality"), AggregationTemporality.Value,
                                 "aggregationTemporality")
    except _Unmappable as exc:
        raise MalformedBody(f"{name}: {exc}") from None
    monotonic = data.get("isMonotonic", False) if aggregation == "sum" else None
    if monotonic is not None and type(monotonic) is not bool:
        raise MalformedBody(f"{name}: isMonotonic must be a boolean")
    otel = _metric_otel(res, aggregation, temporality, monotonic)
    for point in _objects(data, "dataPoints"):
        try:
            attributes = _json_attributes(point.get("attributes"))
            time_ns = _json_int(point.get("timeUnixNano"), "timeUnixNano")
            flags = _json_int(point.get("flags"), "flags")
            if aggregation in ("gauge", "sum"):
                if "asDouble" in point:
                    value: float | None = _json_double(point["asDouble"], "asDouble")
                elif "asInt" in point:
                    value = float(_json_int(point["asInt"], "asInt"))
                else:
                    value = None
                _number_point(res, batch, otel, name=name, unit=unit, time_ns=time_ns, value=value,
                              attributes=attributes, flags=flags)
            else:
                _distribution_point(
                    res, batch, otel, name=name, unit=unit, time_ns=time_ns,
                    count=_json_int(point.get("count"), "count"),
                    total=_json_sum(point, aggregation),
                    minimum=_json_double(point["min"], "min") if point.get("min") is not None else None,
                    maximum=_json_double(point["max"], "max") if point.get("max") is not None else None,
                    attributes=attributes, flags=flags, histogram=aggregation != "summary",
                )
        except _Unmappable as exc:
            batch.reject(f"{name}: {exc}")


def _json_sum(point: dict[str, object], aggregation: str) -> float | None:
    total = point.get("sum")
    if total is None:
        # A summary's sum has no presence in the protobuf, so JSON encoders drop it when it is 0; a
        # histogram's is optional and absent means "not recorded" (e.g. it would not be monotonic).
        return 0.0 if aggregation == "summary" else None
    return _json_double(total, "sum")


def _metrics_from_json(data: bytes, batch: OtlpBatch) -> None:
    doc = _load_json(data)
    for block in _objects(doc, "resourceMetrics"):
        for res, scope_block in _json_resource(block, "scopeMetrics"):
            for metric in _objects(scope_block, "metrics"):
                _json_metric(res, metric, batch)


# --- OTLP/protobuf reader ---------------------------------------------------------------------------


def _load_protobuf(message: type[Message], data: bytes) -> Message:
    try:
        return message.FromString(data)
    except DecodeError as exc:
        raise MalformedBody(f"invalid protobuf: {exc}") from None


def _pb_any(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return _json_safe_double(value.double_value)
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [_pb_any(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()  # same spelling as OTLP/JSON's bytesValue
    return None


def _pb_attributes(values: Iterable[KeyValue]) -> dict[str, object]:
    return {item.key: _pb_any(item.value) for item in values}


def _pb_id(raw: bytes, size: int, what: str) -> str:
    if not any(raw):
        return ""
    if len(raw) != size:
        raise _Unmappable(f"{what} must be {size} bytes ({size * 2} hex digits)")
    return raw.hex()


def _pb_resources(blocks: Iterable[Message], scope_field: str) -> Iterable[tuple[_Resource, Message]]:
    """(resource and scope, scope block) of every scope block of protobuf resource blocks."""
    for block in blocks:
        attributes = _pb_attributes(block.resource.attributes)
        for scope_block in getattr(block, scope_field):
            yield _resource(attributes, scope_block.scope.name, scope_block.scope.version), scope_block


def _logs_from_protobuf(data: bytes, batch: OtlpBatch) -> None:
    request = _load_protobuf(ExportLogsServiceRequest, data)
    for res, scope_block in _pb_resources(request.resource_logs, "scope_logs"):  # type: ignore[attr-defined]
        for record in scope_block.log_records:
            try:
                event = _log_event(
                    res,
                    time_ns=record.time_unix_nano,
                    observed_ns=record.observed_time_unix_nano,
                    severity_number=record.severity_number,
                    severity_text=record.severity_text,
                    body=_pb_any(record.body),
                    attributes=_pb_attributes(record.attributes),
                    trace_id=_pb_id(record.trace_id, 16, "traceId"),
                    span_id=_pb_id(record.span_id, 8, "spanId"),
                    event_name=record.event_name,
                )
            except _Unmappable as exc:
                batch.reject(f"log record: {exc}")
                continue
            batch.events.append(event)


# Protobuf oneof names -> the OTLP/JSON names used in metadata, so both encodings store the same thing.
_PB_AGGREGATIONS = {"gauge": "gauge", "sum": "sum", "histogram": "histogram",
                    "exponential_histogram": "exponentialHistogram", "summary": "summary"}


def _pb_metric(res: _Resource, metric: Message, batch: OtlpBatch) -> None:
    which = metric.WhichOneof("data")  # type: ignore[attr-defined]
    if which is None:
        return
    name, unit = metric.name, metric.unit  # type: ignore[attr-defined]
    if not name:
        raise MalformedBody("metric name must be non-empty")
    data = getattr(metric, which)
    aggregation = _PB_AGGREGATIONS[which]
    otel = _metric_otel(res, aggregation, getattr(data, "aggregation_temporality", None),
                        data.is_monotonic if which == "sum" else None)
    for point in data.data_points:
        attributes = _pb_attributes(point.attributes)
        if which in ("gauge", "sum"):
            value_field = point.WhichOneof("value")
            value = None if value_field is None else float(getattr(point, value_field))
            _number_point(res, batch, otel, name=name, unit=unit, time_ns=point.time_unix_nano, value=value,
                          attributes=attributes, flags=point.flags)
            continue
        summary = which == "summary"
        _distribution_point(
            res, batch, otel, name=name, unit=unit, time_ns=point.time_unix_nano, count=point.count,
            total=point.sum if summary or point.HasField("sum") else None,
            minimum=None if summary or not point.HasField("min") else point.min,
            maximum=None if summary or not point.HasField("max") else point.max,
            attributes=attributes, flags=point.flags, histogram=not summary,
        )


def _metrics_from_protobuf(data: bytes, batch: OtlpBatch) -> None:
    request = _load_protobuf(ExportMetricsServiceRequest, data)
    for res, scope_block in _pb_resources(request.resource_metrics, "scope_metrics"):  # type: ignore[attr-defined]
        for metric in scope_block.metrics:
            _pb_metric(res, metric, batch)


# --- public API -------------------------------------------------------------------------------------


def logs_from_otlp(data: bytes, content_type: str | None) -> OtlpBatch:
    """An ``ExportLogsServiceRequest`` body (already decompressed) -> ``log`` raw events.

    Raises UnsupportedMediaType (415) or MalformedBody (400) for the body as a whole; records that cannot
    be mapped are counted in ``rejected``. The caller still applies its max_events limit to ``events``.
    """
    batch = OtlpBatch()
    if media_type(content_type, OTLP_TYPES) == JSON_TYPE:
        _logs_from_json(data, batch)
    else:
        _logs_from_protobuf(data, batch)
    return batch


def metrics_from_otlp(data: bytes, content_type: str | None) -> OtlpBatch:
    """An ``ExportMetricsServiceRequest`` body (already decompressed) -> ``system_metric`` and
    ``api_metric`` raw events, one per data point; errors as for :func:`logs_from_otlp`."""
    batch = OtlpBatch()
    if media_type(content_type, OTLP_TYPES) == JSON_TYPE:
        _metrics_from_json(data, batch)
    else:
        _metrics_from_protobuf(data, batch)
    return batch
