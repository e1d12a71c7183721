"""The OTLP/JSON reader: walks the document as decoded by orjson and hands each record to the mapping.

Protobuf's JSON mapping writes 64-bit integers as strings and enums as integers; both spellings of each
are accepted, as exporters built on generic JSON encoders send them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping

import orjson
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from collector.body import MalformedBody
from collector.otlp.mapping import (
    OtlpBatch,
    Resource,
    Unmappable,
    distribution_point,
    json_safe_double,
    log_event,
    metric_otel,
    number_point,
    resource,
)


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


# Protobuf's JSON mapping writes 64-bit integers as strings (numbers are accepted as well), of any length:
# each is checked against its field's protobuf type where it is read, so nothing downstream (float(),
# the JSON encoder, a ClickHouse column) meets an integer it cannot hold.
INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT64 = (0, 2**64 - 1)


def _json_int(value: object, what: str, bounds: tuple[int, int]) -> int:
    if value is None:
        return 0
    number: int | None = None
    if type(value) is int:
        number = value
    elif type(value) is str:
        try:
            number = int(value)
        except ValueError:
            pass  # not an integer, or more digits than Python converts
    if number is None:
        raise Unmappable(f"{what} must be an integer, got {value!r:.40}")
    low, high = bounds
    if not low <= number <= high:
        raise Unmappable(f"{what} must be an integer from {low} to {high}, got {value!r:.40}")
    return number


def _json_double(value: object, what: str) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if type(value) is str:
        try:
            return float(value)  # proto3 JSON spells non-finite doubles "NaN", "Infinity", "-Infinity"
        except ValueError:
            pass
    raise Unmappable(f"{what} must be a number, got {value!r:.40}")


def _json_enum(value: object, names: Callable[[str], int], what: str) -> int:
    if type(value) is str and not value.lstrip("-").isdigit():
        try:
            return names(value)  # enum names are tolerated although OTLP/JSON specifies integers
        except ValueError:
            raise Unmappable(f"{what}: unknown value {value!r:.40}") from None
    return _json_int(value, what, INT32)


def _json_any(value: object) -> object:
    if value is None:
        return None
    if type(value) is not dict:
        raise Unmappable("attribute value must be an AnyValue object")
    for key, inner in value.items():
        if key == "stringValue":
            if type(inner) is not str:
                raise Unmappable("stringValue must be a string")
            return inner
        if key == "intValue":
            return _json_int(inner, "intValue", INT64)
        if key == "doubleValue":
            return json_safe_double(_json_double(inner, "doubleValue"))
        if key == "boolValue":
            if type(inner) is not bool:
                raise Unmappable("boolValue must be a boolean")
            return inner
        if key == "arrayValue":
            if type(inner) is not dict:
                raise Unmappable("arrayValue must be an object")
            values = inner.get("values") or []
            if type(values) is not list:
                raise Unmappable("arrayValue.values must be an array")
            return [_json_any(item) for item in values]
        if key == "kvlistValue":
            if type(inner) is not dict:
                raise Unmappable("kvlistValue must be an object")
            return _json_attributes(inner.get("values"))
        if key == "bytesValue":
            if type(inner) is not str:
                raise Unmappable("bytesValue must be a base64 string")
            return inner  # kept base64-encoded: metadata is JSON text
    return None  # an empty AnyValue is OTLP's null


def _json_attributes(value: object) -> dict[str, object]:
    if not value:
        return {}
    if type(value) is not list:
        raise Unmappable("attributes must be an array of key/value objects")
    out: dict[str, object] = {}
    for item in value:
        if type(item) is not dict or type(item.get("key")) is not str:
            raise Unmappable("attributes must be an array of key/value objects")
        out[item["key"]] = _json_any(item.get("value"))
    return out


def _json_id(value: object, size: int, what: str) -> str:
    """A trace/span id as lowercase hex ("" when absent or all zeros, which OTLP defines as invalid)."""
    if not value:
        return ""
    if type(value) is str:
        try:
            # OTLP/JSON specifies hex, but exporters built on a generic protobuf JSON encoder send base64.
            raw = bytes.fromhex(value) if len(value) == size * 2 else base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error is one, and so is the refusal of a non-ASCII string
            raw = b""
        if len(raw) == size:
            return raw.hex() if any(raw) else ""
    raise Unmappable(f"{what} must be {size} bytes ({size * 2} hex digits)")


def _json_resource(block: dict[str, object], scope_key: str) -> Iterable[tuple[Resource, dict[str, object]]]:
    """(resource, scope block) pairs of one resourceLogs/resourceMetrics element."""
    try:
        attributes = _json_attributes(_object(block, "resource").get("attributes"))
        for scope_block in _objects(block, scope_key):
            scope = _object(scope_block, "scope")
            name, version = scope.get("name") or "", scope.get("version") or ""
            if type(name) is not str or type(version) is not str:
                raise MalformedBody("scope name and version must be strings")
            yield resource(attributes, name, version), scope_block
    except Unmappable as exc:
        # A broken resource would poison every record under it, so this is the body's fault, not a record's.
        raise MalformedBody(f"resource or scope: {exc}") from None


def read_logs(data: bytes, batch: OtlpBatch) -> None:
    doc = _load_json(data)
    for block in _objects(doc, "resourceLogs"):
        for res, scope_block in _json_resource(block, "scopeLogs"):
            for record in _objects(scope_block, "logRecords"):
                try:
                    event_name = record.get("eventName") or ""
                    severity_text = record.get("severityText") or ""
                    if type(event_name) is not str or type(severity_text) is not str:
                        raise Unmappable("severityText and eventName must be strings")
                    event = log_event(
                        res,
                        time_ns=_json_int(record.get("timeUnixNano"), "timeUnixNano", UINT64),
                        observed_ns=_json_int(record.get("observedTimeUnixNano"), "observedTimeUnixNano", UINT64),
                        severity_number=_json_enum(record.get("severityNumber"), SeverityNumber.Value,
                                                   "severityNumber"),
                        severity_text=severity_text,
                        body=_json_any(record.get("body")),
                        attributes=_json_attributes(record.get("attributes")),
                        trace_id=_json_id(record.get("traceId"), 16, "traceId"),
                        span_id=_json_id(record.get("spanId"), 8, "spanId"),
                        event_name=event_name,
                    )
                except Unmappable as exc:
                    batch.reject(f"log record: {exc}")
                    continue
                batch.events.append(event)


def _json_metric(res: Resource, metric: dict[str, object], batch: OtlpBatch) -> None:
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
    except Unmappable as exc:
        raise MalformedBody(f"{name}: {exc}") from None
    monotonic = data.get("isMonotonic", False) if aggregation == "sum" else None
    if monotonic is not None and type(monotonic) is not bool:
        raise MalformedBody(f"{name}: isMonotonic must be a boolean")
    otel = metric_otel(res, aggregation, temporality, monotonic)
    for point in _objects(data, "dataPoints"):
        try:
            attributes = _json_attributes(point.get("attributes"))
            time_ns = _json_int(point.get("timeUnixNano"), "timeUnixNano", UINT64)
            flags = _json_int(point.get("flags"), "flags", UINT32)
            if aggregation in ("gauge", "sum"):
                if "asDouble" in point:
                    value: float | None = _json_double(point["asDouble"], "asDouble")
                elif "asInt" in point:
                    value = float(_json_int(point["asInt"], "asInt", INT64))
                else:
                    value = None
                number_point(res, batch, otel, name=name, unit=unit, time_ns=time_ns, value=value,
                              attributes=attributes, flags=flags)
            else:
                distribution_point(
                    res, batch, otel, name=name, unit=unit, time_ns=time_ns,
                    count=_json_int(point.get("count"), "count", UINT64),
                    total=_json_sum(point, aggregation),
                    minimum=_json_double(point["min"], "min") if point.get("min") is not None else None,
                    maximum=_json_double(point["max"], "max") if point.get("max") is not None else None,
                    attributes=attributes, flags=flags, histogram=aggregation != "summary",
                )
        except Unmappable as exc:
            batch.reject(f"{name}: {exc}")


def _json_sum(point: dict[str, object], aggregation: str) -> float | None:
    total = point.get("sum")
    if total is None:
        # A summary's sum has no presence in the protobuf, so JSON encoders drop it when it is 0; a
        # histogram's is optional and absent means "not recorded" (e.g. it would not be monotonic).
        return 0.0 if aggregation == "summary" else None
    return _json_double(total, "sum")


def read_metrics(data: bytes, batch: OtlpBatch) -> None:
    doc = _load_json(data)
    for block in _objects(doc, "resourceMetrics"):
        for res, scope_block in _json_resource(block, "scopeMetrics"):
            for metric in _objects(scope_block, "metrics"):
                _json_metric(res, metric, batch)

