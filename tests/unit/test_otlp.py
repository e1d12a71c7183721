"""OTLP/HTTP logs and metrics mapped onto Lookout events, in both JSON and protobuf encodings."""

from __future__ import annotations

import math

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collector.body import MalformedBody, UnsupportedMediaType
from collector.otlp import MAX_ERROR_REASONS, UNMATCHED_ROUTE, OtlpBatch, logs_from_otlp, metrics_from_otlp
from lookout.contract import InvalidEvent, validate_event

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
T_NS = 1_700_000_000_123_456_789
T_MS = 1_700_000_000_123
NOW = T_MS + 1000
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")


def any_value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attributes(value)))
    raise TypeError(value)


def attributes(values: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


RESOURCE = {
    "service.name": "checkout",
    "service.instance.id": "pod-7",
    "host.name": "node-1",
    "telemetry.sdk.language": "python",
}


def logs_request(*records: LogRecord, resource: dict[str, object] | None = None) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=attributes(RESOURCE if resource is None else resource)),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name="app.orders", version="2.1"), log_records=records)
                ],
            )
        ]
    )


def record(**kwargs: object) -> LogRecord:
    attrs = kwargs.pop("attributes", {})
    body = kwargs.pop("body", "hello")
    kwargs.setdefault("time_unix_nano", T_NS)
    return LogRecord(attributes=attributes(attrs), body=any_value(body) if body is not None else None, **kwargs)  # type: ignore[arg-type]


def both_encodings(request: ExportLogsServiceRequest | ExportMetricsServiceRequest) -> list[tuple[bytes, str]]:
    """The same request as protobuf, and as JSON the way a generic protobuf JSON encoder writes it."""
    as_json = json_format.MessageToDict(request, use_integers_for_enums=True)
    return [(request.SerializeToString(), PROTOBUF), (orjson.dumps(as_json), JSON)]


def map_logs(request: ExportLogsServiceRequest) -> OtlpBatch:
    results = [logs_from_otlp(data, content_type) for data, content_type in both_encodings(request)]
    assert results[0] == results[1], "protobuf and JSON encodings must map identically"
    return results[0]


def map_metrics(request: ExportMetricsServiceRequest) -> OtlpBatch:
    results = [metrics_from_otlp(data, content_type) for data, content_type in both_encodings(request)]
    assert results[0] == results[1], "protobuf and JSON encodings must map identically"
    return results[0]


# --- logs --------------------------------------------------------------------------------------------


def test_log_record_maps_onto_a_log_event() -> None:
    batch = map_logs(
        logs_request(
            record(
                severity_number=13,
                severity_text="WARN",
                body="payment slow",
                trace_id=TRACE,
                span_id=SPAN,
                attributes={
                    "http.route": "/orders/:id",
                    "http.request.method": "post",
                    "http.response.status_code": 503,
                    "order.id": 42,
                    "retry": True,
                    "ratio": 0.5,
                    "tags": ["a", "b"],
                    "ctx": {"k": "v"},
                    "blob": b"\x00\x01",
                },
            )
        )
    )
    assert (batch.rejected, batch.errors) == (0, [])
    assert batch.events == [
        {
            "kind": "log",
            "service": "checkout",
            "instance": "pod-7",
            "timestamp": T_MS,
            "level": "warn",
            "message": "payment slow",
            "correlation_id": TRACE.hex(),
            "endpoint": "/orders/:id",
            "method": "POST",
            "status_code": 503,
            "metadata": {
                "order.id": 42,
                "retry": True,
                "ratio": 0.5,
                "tags": ["a", "b"],
                "ctx": {"k": "v"},
                "blob": "AAE=",
                "otel": {
                    "resource": {"host.name": "node-1", "telemetry.sdk.language": "python"},
                    "scope": {"name": "app.orders", "version": "2.1"},
                    "span_id": SPAN.hex(),
                    "severity_text": "WARN",
                },
            },
        }
    ]
    event = validate_event(batch.events[0], NOW)
    assert event.fields["metadata"]["otel"]["span_id"] == SPAN.hex()


def test_hand_written_otlp_json_with_hex_ids_and_string_int64s() -> None:
    doc = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
                "scopeLogs": [
                    {
                        "scope": {},
                        "logRecords": [
                            {
                                "timeUnixNano": str(T_NS),
                                "severityNumber": 17,
                                "body": {"stringValue": "boom"},
                                "traceId": TRACE.hex().upper(),
                                "spanId": SPAN.hex(),
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "9007199254740993"}},
                                    {"key": "d", "value": {"doubleValue": "Infinity"}},
                                    {"key": "e", "value": {}},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    batch = logs_from_otlp(orjson.dumps(doc), "application/json; charset=utf-8")
    assert batch.events == [
        {
            "kind": "log",
            "service": "web",
            "timestamp": T_MS,
            "level": "error",
            "message": "boom",
            "correlation_id": TRACE.hex(),
            "metadata": {"n": 9007199254740993, "d": "Infinity", "e": None, "otel": {"span_id": SPAN.hex()}},
        }
    ]
    validate_event(batch.events[0], NOW)


@pytest.mark.parametrize(
    ("number", "level"),
    [
        (1, "trace"),
        (4, "trace"),
        (5, "debug"),
        (8, "debug"),
        (9, "info"),
        (12, "info"),
        (13, "warn"),
        (16, "warn"),
        (17, "error"),
        (20, "error"),
        (21, "error"),
        (24, "error"),
    ],
)
def test_severity_number(number: int, level: str) -> None:
    assert map_logs(logs_request(record(severity_number=number))).events[0]["level"] == level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("WARNING", "warn"),
        ("Error", "error"),
        ("fatal", "error"),
        ("debug", "debug"),
        ("", "info"),
        ("whatever", "info"),
    ],
)
def test_severity_text_when_the_number_is_unspecified(text: str, level: str) -> None:
    assert map_logs(logs_request(record(severity_text=text))).events[0]["level"] == level


def test_structured_and_missing_bodies() -> None:
    batch = map_logs(logs_request(record(body={"user": "u1", "n": [1, 2.5]}), record(body=None), record(body=7)))
    assert [e["message"] for e in batch.events] == ['{"user":"u1","n":[1,2.5]}', "", "7"]
    for event in batch.events:
        validate_event(event, NOW)


def test_observed_time_is_the_fallback_and_no_time_is_left_to_the_contract() -> None:
    batch = map_logs(
        logs_request(
            record(time_unix_nano=0, observed_time_unix_nano=T_NS + 5_000_000),
            record(time_unix_nano=0),
        )
    )
    assert batch.events[0]["timestamp"] == T_MS + 5
    assert "timestamp" not in batch.events[1]
    with pytest.raises(InvalidEvent, match="timestamp: required"):
        validate_event(batch.events[1], NOW)


def test_resource_service_and_instance() -> None:
    batch = map_logs(logs_request(record(), resource={"service.name": "my shop/api", "host.name": "node-1"}))
    event = batch.events[0]
    assert (event["service"], event["instance"]) == ("my_shop/api", "node-1")
    # The sanitized name is a lossy rewrite, so the original is kept.
    assert event["metadata"]["otel"]["resource"] == {"service.name": "my shop/api"}
    validate_event(event, NOW)

    anonymous = map_logs(logs_request(record(), resource={})).events[0]
    assert anonymous["service"] == "unknown_service" and "instance" not in anonymous
    assert anonymous["metadata"] == {"otel": {"scope": {"name": "app.orders", "version": "2.1"}}}


def test_other_semantic_attributes_become_columns_only_when_valid() -> None:
    batch = map_logs(
        logs_request(
            record(
                attributes={
                    "http.method": "GET",
                    "http.status_code": 404,
                    "url.path": "/a/b",
                    "enduser.id": "u-9",
                    "session.id": "s-1",
                    "client.address": "::ffff:10.1.2.3",
                    "user_agent.original": "curl/8",
                    "exception.type": "ValueError",
                    "exception.message": "bad",
                    "exception.stacktrace": "Traceback...",
                    "event.name": "checkout.failed",
                }
            )
        )
    )
    event = batch.events[0]
    assert {
        k: event[k]
        for k in (
            "endpoint",
            "method",
            "status_code",
            "user_id",
            "session_id",
            "ip_address",
            "user_agent",
            "error_code",
            "error_message",
            "error_stack",
            "event_type",
        )
    } == {
        "endpoint": "/a/b",
        "method": "GET",
        "status_code": 404,
        "user_id": "u-9",
        "session_id": "s-1",
        "ip_address": "10.1.2.3",
        "user_agent": "curl/8",
        "error_code": "ValueError",
        "error_message": "bad",
        "error_stack": "Traceback...",
        "event_type": "checkout.failed",
    }
    assert set(event["metadata"]) == {"otel"}

    odd = map_logs(
        logs_request(
            record(
                attributes={
                    "http.request.method": "_OTHER",
                    "http.response.status_code": 999,
                    "client.address": "unix:/tmp/s",
                    "exception.type": "x" * 51,
                    "http.route": 5,
                }
            )
        )
    ).events[0]
    for column in ("method", "status_code", "ip_address", "error_code", "endpoint"):
        assert column not in odd
    assert set(odd["metadata"]) == {
        "http.request.method",
        "http.response.status_code",
        "client.address",
        "exception.type",
        "http.route",
        "otel",
    }
    validate_event(odd, NOW)


def test_event_name_field() -> None:
    event = map_logs(logs_request(record(event_name="browser.click"))).events[0]
    assert event["event_type"] == "browser.click"
    long_name = map_logs(logs_request(record(event_name="e" * 60))).events[0]
    assert "event_type" not in long_name and long_name["metadata"]["otel"]["event_name"] == "e" * 60


def test_application_attribute_named_otel_is_kept() -> None:
    event = map_logs(logs_request(record(attributes={"otel": "mine"}))).events[0]
    assert event["metadata"]["otel_attribute"] == "mine"
    assert event["metadata"]["otel"]["scope"]["name"] == "app.orders"


def test_zero_ids_are_absent_and_bad_ids_reject_the_record() -> None:
    batch = map_logs(logs_request(record(trace_id=bytes(16), span_id=bytes(8)), record(trace_id=b"\x01" * 5), record()))
    assert "correlation_id" not in batch.events[0]
    assert len(batch.events) == 2
    assert batch.rejected == 1
    assert batch.errors == ["log record: traceId must be 16 bytes (32 hex digits)"]


def test_bad_json_values_reject_only_their_record() -> None:
    good = {"timeUnixNano": str(T_NS), "body": {"stringValue": "ok"}}
    doc = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            good,
                            {"timeUnixNano": "soon"},
                            {"timeUnixNano": str(T_NS), "traceId": "xyz"},
                            {"timeUnixNano": str(T_NS), "attributes": [{"key": "a", "value": {"intValue": "1.5"}}]},
                            {"timeUnixNano": str(T_NS), "severityNumber": "SEVERITY_NUMBER_ERROR"},
                            {"timeUnixNano": str(T_NS), "severityNumber": "LOUD"},
                            {"timeUnixNano": str(T_NS), "body": {"stringValue": 5}},
                        ]
                    }
                ]
            }
        ]
    }
    batch = logs_from_otlp(orjson.dumps(doc), JSON)
    assert [e.get("message") for e in batch.events] == ["ok", ""]
    assert batch.events[1]["level"] == "error"
    assert batch.rejected == 5
    assert batch.errors == [
        "log record: timeUnixNano must be an integer, got 'soon'",
        "log record: traceId must be 16 bytes (32 hex digits)",
        "log record: intValue must be an integer, got '1.5'",
        "log record: severityNumber: unknown value 'LOUD'",
        "log record: stringValue must be a string",
    ]


def test_error_reasons_are_distinct_and_capped() -> None:
    batch = OtlpBatch()
    for i in range(100):
        batch.reject(f"reason {i % 30}")
        batch.reject("same")
    assert batch.rejected == 200
    assert len(batch.errors) == MAX_ERROR_REASONS and batch.errors.count("same") == 1


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"resourceLogs": {}},
        {"resourceLogs": [1]},
        {"resourceLogs": [{"scopeLogs": [{"logRecords": "x"}]}]},
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [{"key": "a", "value": {"intValue": "x"}}]},
                    "scopeLogs": [{"logRecords": [{}]}],
                }
            ]
        },
        {"resourceLogs": [{"scopeLogs": [{"scope": {"name": 1}, "logRecords": [{}]}]}]},
    ],
)
def test_structurally_broken_json_is_malformed(doc: object) -> None:
    with pytest.raises(MalformedBody):
        logs_from_otlp(orjson.dumps(doc), JSON)


def test_content_types_and_garbage() -> None:
    data = logs_request(record()).SerializeToString()
    assert len(logs_from_otlp(data, "application/protobuf").events) == 1
    with pytest.raises(UnsupportedMediaType):
        logs_from_otlp(data, "text/plain")
    with pytest.raises(UnsupportedMediaType):
        metrics_from_otlp(data, None)
    with pytest.raises(MalformedBody, match="invalid protobuf"):
        logs_from_otlp(b"\xff\xff\xff\xff", PROTOBUF)
    with pytest.raises(MalformedBody, match="invalid JSON"):
        logs_from_otlp(b"{", JSON)
    assert logs_from_otlp(b"", PROTOBUF).events == []
    assert logs_from_otlp(b"{}", JSON).events == []


# --- metrics ---------------------------------------------------------------------------------------------


def metrics_request(*metrics: pb.Metric, resource: dict[str, object] | None = None) -> ExportMetricsServiceRequest:
    return ExportMetricsServiceRequest(
        resource_metrics=[
            pb.ResourceMetrics(
                resource=Resource(
                    attributes=attributes(
                        {"service.name": "api", "host.name": "node-1"} if resource is None else resource
                    )
                ),
                scope_metrics=[pb.ScopeMetrics(scope=InstrumentationScope(name="meter"), metrics=metrics)],
            )
        ]
    )


def number_point(
    value: float | int | None, attrs: dict[str, object] | None = None, **kwargs: object
) -> pb.NumberDataPoint:
    kwargs.setdefault("time_unix_nano", T_NS)
    if isinstance(value, float):
        kwargs["as_double"] = value
    elif isinstance(value, int):
        kwargs["as_int"] = value
    return pb.NumberDataPoint(attributes=attributes(attrs or {}), **kwargs)  # type: ignore[arg-type]


def histogram_point(
    count: int, total: float | None, attrs: dict[str, object] | None = None, **kwargs: object
) -> pb.HistogramDataPoint:
    kwargs.setdefault("time_unix_nano", T_NS)
    if total is not None:
        kwargs["sum"] = total
    return pb.HistogramDataPoint(count=count, attributes=attributes(attrs or {}), **kwargs)  # type: ignore[arg-type]


OTEL_BASE = {"scope": {"name": "meter"}}


def test_gauge_point_maps_onto_a_system_metric() -> None:
    gauge = pb.Metric(
        name="system.cpu.utilization",
        unit="1",
        gauge=pb.Gauge(data_points=[number_point(0.75, {"cpu": 0, "state": "user"})]),
    )
    batch = map_metrics(metrics_request(gauge))
    assert batch.events == [
        {
            "kind": "system_metric",
            "service": "api",
            "instance": "node-1",
            "timestamp": T_MS,
            "metric_type": "cpu",
            "metric_name": "system.cpu.utilization.user",
            "value": 75.0,
            "unit": "percent",
            "metadata": {"cpu": 0, "otel": {**OTEL_BASE, "aggregation": "gauge"}},
        }
    ]
    validate_event(batch.events[0], NOW)


def test_sum_point_with_int_value() -> None:
    total = pb.Metric(
        name="process_open_fds",
        unit="{fd}",
        sum=pb.Sum(
            data_points=[number_point(42), number_point(0)],
            is_monotonic=True,
            aggregation_temporality=pb.AGGREGATION_TEMPORALITY_CUMULATIVE,
        ),
    )
    batch = map_metrics(metrics_request(total))
    assert [e["value"] for e in batch.events] == [42.0, 0.0]
    assert batch.events[0]["metric_type"] == "process"
    assert batch.events[0]["metadata"]["otel"] == {
        **OTEL_BASE,
        "aggregation": "sum",
        "temporality": "cumulative",
        "monotonic": True,
    }
    for event in batch.events:
        validate_event(event, NOW)


def test_http_server_duration_histogram_becomes_api_metrics() -> None:
    attrs = {
        "http.route": "/users/:id",
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "url.scheme": "https",
    }
    metric = pb.Metric(
        name="http.server.request.duration",
        unit="s",
        histogram=pb.Histogram(
            aggregation_temporality=pb.AGGREGATION_TEMPORALITY_DELTA,
            data_points=[
                histogram_point(4, 0.5, attrs, min=0.05, max=0.2, bucket_counts=[1, 3], explicit_bounds=[0.1])
            ],
        ),
    )
    batch = map_metrics(metrics_request(metric))
    assert batch.events == [
        {
            "kind": "api_metric",
            "service": "api",
            "instance": "node-1",
            "timestamp": T_MS,
            "response_time_ms": 125.0,
            "endpoint": "/users/:id",
            "method": "GET",
            "status_code": 200,
            "metadata": {
                "url.scheme": "https",
                "otel": {
                    **OTEL_BASE,
                    "aggregation": "histogram",
                    "temporality": "delta",
                    "count": 4,
                    "min": 0.05,
                    "max": 0.2,
                },
            },
        }
    ]
    validate_event(batch.events[0], NOW)


def test_old_http_server_duration_in_milliseconds_and_unmatched_route() -> None:
    metric = pb.Metric(
        name="http.server.duration",
        unit="ms",
        histogram=pb.Histogram(
            data_points=[
                histogram_point(2, 30.0, {"http.method": "POST", "http.status_code": 404}),
            ]
        ),
    )
    event = map_metrics(metrics_request(metric)).events[0]
    assert (event["response_time_ms"], event["endpoint"], event["method"], event["status_code"]) == (
        15.0,
        UNMATCHED_ROUTE,
        "POST",
        404,
    )
    validate_event(event, NOW)


def test_http_duration_unit_defaults_by_convention_version() -> None:
    new = pb.Metric(
        name="http.server.request.duration",
        histogram=pb.Histogram(
            data_points=[histogram_point(1, 0.25, {"http.request.method": "GET", "http.response.status_code": 200})]
        ),
    )
    old = pb.Metric(
        name="http.server.duration",
        histogram=pb.Histogram(
            data_points=[histogram_point(1, 0.25, {"http.request.method": "GET", "http.response.status_code": 200})]
        ),
    )
    assert [e["response_time_ms"] for e in map_metrics(metrics_request(new, old)).events] == [250.0, 0.25]


def test_unmappable_http_duration_points_are_counted() -> None:
    points = [
        histogram_point(1, 0.1, {"http.response.status_code": 200}),
        histogram_point(1, 0.1, {"http.request.method": "_OTHER", "http.response.status_code": 200}),
        histogram_point(1, 0.1, {"http.request.method": "GET"}),
        histogram_point(1, 0.1, {"http.request.method": "GET", "http.response.status_code": 999}),
        histogram_point(1, 0.1, {"http.request.method": "GET", "http.response.status_code": 200}),
    ]
    minutes = pb.Metric(
        name="http.server.request.duration",
        unit="min",
        histogram=pb.Histogram(
            data_points=[histogram_point(1, 1.0, {"http.request.method": "GET", "http.response.status_code": 200})]
        ),
    )
    batch = map_metrics(
        metrics_request(
            pb.Metric(name="http.server.request.duration", unit="s", histogram=pb.Histogram(data_points=points)),
            minutes,
        )
    )
    assert len(batch.events) == 1 and batch.rejected == 5
    assert batch.errors == [
        "http.server.request.duration: data point has no http.request.method attribute",
        "http.server.request.duration: http.request.method '_OTHER' is not one of "
        "GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD",
        "http.server.request.duration: data point has no http.response.status_code attribute",
        "http.server.request.duration: http.response.status_code 999 is not an HTTP status code (100..599)",
        "http.server.request.duration: unsupported duration unit 'min'",
    ]


def test_other_distributions_become_system_metric_means() -> None:
    histogram = pb.Metric(
        name="db.client.operation.duration",
        unit="s",
        histogram=pb.Histogram(data_points=[histogram_point(4, 2.0, {"db.system": "postgresql"})]),
    )
    exponential = pb.Metric(
        name="queue.wait",
        unit="ms",
        exponential_histogram=pb.ExponentialHistogram(
            data_points=[pb.ExponentialHistogramDataPoint(time_unix_nano=T_NS, count=2, sum=10.0)]
        ),
    )
    summary = pb.Metric(
        name="gc.pause",
        unit="ms",
        summary=pb.Summary(data_points=[pb.SummaryDataPoint(time_unix_nano=T_NS, count=5, sum=25.0)]),
    )
    empty_summary = pb.Metric(
        name="gc.idle", summary=pb.Summary(data_points=[pb.SummaryDataPoint(time_unix_nano=T_NS, count=5, sum=0.0)])
    )
    batch = map_metrics(metrics_request(histogram, exponential, summary, empty_summary))
    assert [(e["kind"], e["metric_type"], e["metric_name"], e["value"]) for e in batch.events] == [
        ("system_metric", "db", "db.client.operation.duration", 0.5),
        ("system_metric", "queue", "queue.wait", 5.0),
        ("system_metric", "gc", "gc.pause", 5.0),
        ("system_metric", "gc", "gc.idle", 0.0),
    ]
    assert batch.events[0]["metadata"] == {
        "db.system": "postgresql",
        "otel": {**OTEL_BASE, "aggregation": "histogram", "count": 4},
    }
    assert batch.events[1]["metadata"]["otel"]["aggregation"] == "exponentialHistogram"
    for event in batch.events:
        validate_event(event, NOW)


def test_points_without_a_measurement() -> None:
    gauge = pb.Metric(
        name="temp",
        gauge=pb.Gauge(
            data_points=[
                number_point(None),  # no value at all: rejected
                number_point(1.0, flags=pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK),  # staleness marker: skipped
                number_point(math.nan),
                number_point(math.inf),
                number_point(2.0),
            ]
        ),
    )
    histogram = pb.Metric(
        name="latency",
        histogram=pb.Histogram(
            data_points=[
                histogram_point(0, 0.0),  # no observations in the interval: skipped
                histogram_point(3, None),  # sum not recorded: rejected
                histogram_point(2, 1.0, flags=pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK),
            ]
        ),
    )
    batch = map_metrics(metrics_request(gauge, histogram, pb.Metric(name="no.data")))
    assert [e["value"] for e in batch.events] == [2.0]
    assert batch.rejected == 4
    assert batch.errors == [
        "temp: data point has no value",
        "temp: value nan is not a finite number",
        "temp: value inf is not a finite number",
        "latency: data point has no sum",
    ]


def test_long_units_move_to_metadata() -> None:
    metric = pb.Metric(
        name="weird", unit="{very_long_annotation_unit}", gauge=pb.Gauge(data_points=[number_point(1.0)])
    )
    event = map_metrics(metrics_request(metric)).events[0]
    assert "unit" not in event and event["metadata"]["otel"]["unit"] == "{very_long_annotation_unit}"
    validate_event(event, NOW)


def test_hand_written_metrics_json() -> None:
    doc = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "mem.used",
                                "unit": "By",
                                "gauge": {
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": T_NS,
                                            "asInt": 1024,
                                            "attributes": [{"key": "k", "value": {"boolValue": True}}],
                                        },
                                        {"timeUnixNano": str(T_NS), "asDouble": "NaN"},
                                    ]
                                },
                            },
                            {
                                "name": "reqs",
                                "sum": {
                                    "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                                    "isMonotonic": True,
                                    "dataPoints": [{"timeUnixNano": str(T_NS), "asInt": "3"}],
                                },
                            },
                            {
                                "name": "lat",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [{"timeUnixNano": str(T_NS), "count": "2", "sum": 3}],
                                },
                            },
                        ]
                    }
                ]
            }
        ]
    }
    batch = metrics_from_otlp(orjson.dumps(doc), JSON)
    assert [(e["metric_name"], e["value"]) for e in batch.events] == [("mem.used", 1024.0), ("reqs", 3.0), ("lat", 1.5)]
    assert batch.events[0]["service"] == "unknown_service"
    assert batch.events[1]["metadata"]["otel"] == {"aggregation": "sum", "temporality": "delta", "monotonic": True}
    assert batch.errors == ["mem.used: value nan is not a finite number"]
    for event in batch.events:
        validate_event(event, NOW)


@pytest.mark.parametrize(
    "metric",
    [
        {"unit": "1"},
        {"name": 5},
        {"name": "a", "gauge": []},
        {"name": "a", "gauge": {"dataPoints": {}}},
        {"name": "a", "sum": {"aggregationTemporality": "SIDEWAYS", "dataPoints": []}},
        {"name": "a", "sum": {"isMonotonic": "yes", "dataPoints": []}},
    ],
)
def test_structurally_broken_metrics_json_is_malformed(metric: dict) -> None:
    doc = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
    with pytest.raises(MalformedBody):
        metrics_from_otlp(orjson.dumps(doc), JSON)


def _log_doc(*records: dict) -> bytes:
    return orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": list(records)}]}]})


@pytest.mark.parametrize(
    "record_json, field",
    [
        ({"body": {"intValue": str(2**63)}}, "intValue"),
        ({"body": {"intValue": 2**64 - 1}}, "intValue"),
        ({"body": {"intValue": "-" + "9" * 400}}, "intValue"),
        ({"attributes": [{"key": "n", "value": {"intValue": "9" * 30}}]}, "intValue"),
        ({"body": {"arrayValue": {"values": [{"intValue": str(-(2**63) - 1)}]}}}, "intValue"),
        ({"timeUnixNano": str(2**64)}, "timeUnixNano"),
        ({"observedTimeUnixNano": "-1"}, "observedTimeUnixNano"),
        ({"severityNumber": str(2**31)}, "severityNumber"),
        ({"traceId": "é" * 32}, "traceId"),
        ({"traceId": "é" * 24}, "traceId"),
        ({"spanId": "ßpän-ïd"}, "spanId"),
        ({"spanId": "\u0660" * 16}, "spanId"),
    ],
)
def test_json_log_values_out_of_their_protobuf_range_reject_the_record(record_json: dict, field: str) -> None:
    batch = logs_from_otlp(_log_doc({"timeUnixNano": str(T_NS), **record_json}, {"timeUnixNano": str(T_NS)}), JSON)
    assert batch.rejected == 1 and len(batch.events) == 1
    assert field in batch.errors[0]
    orjson.dumps(batch.events)  # what is kept can be encoded for Kafka


def test_json_integers_at_the_edges_of_their_range_are_kept() -> None:
    doc = _log_doc(
        {"timeUnixNano": str(T_NS), "body": {"intValue": str(2**63 - 1)}},
        {"timeUnixNano": str(T_NS), "body": {"intValue": -(2**63)}},
    )
    batch = logs_from_otlp(doc, JSON)
    assert batch.rejected == 0
    assert [e["message"] for e in batch.events] == [str(2**63 - 1), str(-(2**63))]


def _gauge_doc(kind: str, point: dict) -> bytes:
    metric = {
        "name": "queue.depth",
        kind: {"dataPoints": [point, {"timeUnixNano": str(T_NS), "asDouble": 1.0, "count": "1", "sum": 1.0}]},
    }
    return orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]})


@pytest.mark.parametrize(
    "kind, point, field",
    [
        ("gauge", {"asInt": "9" * 400}, "asInt"),
        ("sum", {"asInt": str(2**63)}, "asInt"),
        ("histogram", {"count": "9" * 400, "sum": 1.0}, "count"),
        ("summary", {"count": "9" * 400, "sum": 1.0}, "count"),
        ("exponentialHistogram", {"count": str(2**64), "sum": 1.0}, "count"),
        ("gauge", {"asInt": "1", "flags": "-1"}, "flags"),
    ],
)
def test_json_metric_values_out_of_their_protobuf_range_reject_the_point(kind: str, point: dict, field: str) -> None:
    batch = metrics_from_otlp(_gauge_doc(kind, {"timeUnixNano": str(T_NS), **point}), JSON)
    assert batch.rejected == 1 and len(batch.events) == 1
    assert field in batch.errors[0]
    orjson.dumps(batch.events)


def test_json_metric_integers_at_the_edges_of_their_range_are_kept() -> None:
    batch = metrics_from_otlp(_gauge_doc("sum", {"timeUnixNano": str(T_NS), "asInt": str(-(2**63))}), JSON)
    assert batch.rejected == 0 and batch.events[0]["value"] == float(-(2**63))
    batch = metrics_from_otlp(
        _gauge_doc("summary", {"timeUnixNano": str(T_NS), "count": str(2**64 - 1), "sum": 1.0}), JSON
    )
    assert batch.rejected == 0 and batch.events[0]["metadata"]["otel"]["count"] == 2**64 - 1
    orjson.dumps(batch.events)


def test_a_json_log_body_nested_deeper_than_json_can_store_rejects_the_record() -> None:
    # OTLP/JSON decodes ~340 AnyValue levels; the message column holds the body as JSON, which stops at 254.
    def nested(depth: int) -> bytes:
        return b'{"arrayValue":{"values":[' * depth + b'{"stringValue":"x"}' + b"]}}" * depth

    def doc(depth: int) -> bytes:
        record = b'{"timeUnixNano":"%d","body":' % T_NS + nested(depth) + b"}"
        return b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + record + b',{"timeUnixNano":"1"}]}]}]}'

    batch = logs_from_otlp(doc(300), JSON)
    assert batch.rejected == 1 and len(batch.events) == 1
    assert "body" in batch.errors[0] and "nested" in batch.errors[0]
    assert logs_from_otlp(doc(254), JSON).rejected == 0
