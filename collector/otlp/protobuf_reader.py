"""The OTLP/protobuf reader: walks the upb message objects directly.

Converting with ``json_format.MessageToDict`` would cost ~27 µs per log record, several times the rest of
ingestion, so the typed fields are read as they are and handed to the mapping.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

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
        return json_safe_double(value.double_value)
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
        raise Unmappable(f"{what} must be {size} bytes ({size * 2} hex digits)")
    return raw.hex()


def _pb_resources(blocks: Iterable[Message], scope_field: str) -> Iterable[tuple[Resource, Message]]:
    """(resource and scope, scope block) of every scope block of protobuf resource blocks."""
    for block in blocks:
        attributes = _pb_attributes(block.resource.attributes)
        for scope_block in getattr(block, scope_field):
            yield resource(attributes, scope_block.scope.name, scope_block.scope.version), scope_block


def read_logs(data: bytes, batch: OtlpBatch) -> None:
    request = _load_protobuf(ExportLogsServiceRequest, data)
    for res, scope_block in _pb_resources(request.resource_logs, "scope_logs"):  # type: ignore[attr-defined]
        for record in scope_block.log_records:
            try:
                event = log_event(
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
            except Unmappable as exc:
                batch.reject(f"log record: {exc}")
                continue
            batch.events.append(event)


# Protobuf oneof names -> the OTLP/JSON names used in metadata, so both encodings store the same thing.
_PB_AGGREGATIONS = {"gauge": "gauge", "sum": "sum", "histogram": "histogram",
                    "exponential_histogram": "exponentialHistogram", "summary": "summary"}


def _pb_metric(res: Resource, metric: Message, batch: OtlpBatch) -> None:
    which = metric.WhichOneof("data")  # type: ignore[attr-defined]
    if which is None:
        return
    name, unit = metric.name, metric.unit  # type: ignore[attr-defined]
    if not name:
        raise MalformedBody("metric name must be non-empty")
    data = getattr(metric, which)
    aggregation = _PB_AGGREGATIONS[which]
    otel = metric_otel(res, aggregation, getattr(data, "aggregation_temporality", None),
                        data.is_monotonic if which == "sum" else None)
    for point in data.data_points:
        attributes = _pb_attributes(point.attributes)
        if which in ("gauge", "sum"):
            value_field = point.WhichOneof("value")
            value = None if value_field is None else float(getattr(point, value_field))
            number_point(res, batch, otel, name=name, unit=unit, time_ns=point.time_unix_nano, value=value,
                          attributes=attributes, flags=point.flags)
            continue
        summary = which == "summary"
        distribution_point(
            res, batch, otel, name=name, unit=unit, time_ns=point.time_unix_nano, count=point.count,
            total=point.sum if summary or point.HasField("sum") else None,
            minimum=None if summary or not point.HasField("min") else point.min,
            maximum=None if summary or not point.HasField("max") else point.max,
            attributes=attributes, flags=point.flags, histogram=not summary,
        )


def read_metrics(data: bytes, batch: OtlpBatch) -> None:
    request = _load_protobuf(ExportMetricsServiceRequest, data)
    for res, scope_block in _pb_resources(request.resource_metrics, "scope_metrics"):  # type: ignore[attr-defined]
        for metric in scope_block.metrics:
            _pb_metric(res, metric, batch)

