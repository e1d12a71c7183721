"""OTLP -> Lookout raw events: the mapping rules both readers share (see the package docstring).

A reader normalizes one record or data point (attributes to plain dicts, ids to hex, int64 strings to
ints) and calls one builder per signal here, so each rule exists once whatever the encoding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from collector.otlp.hostmetrics import host_metric, is_host_metric
from lookout.contract import HTTP_METHODS, LEVEL_ALIASES, LEVELS, field_spec
from lookout.contract.fields import FieldError, compile_checker

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


class Unmappable(ValueError):
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
class Resource:
    service: str
    instance: str
    otel: dict[str, object]  # resource attributes not consumed above, and the scope: metadata["otel"] base



def json_safe_double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def resource(attributes: dict[str, object], scope_name: str, scope_version: str) -> Resource:
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
    return Resource(service, instance, otel)


def _metadata(attributes: dict[str, object], otel: dict[str, object]) -> dict[str, object]:
    if otel:
        if "otel" in attributes:  # our key must not overwrite an application attribute of the same name
            attributes["otel_attribute"] = attributes.pop("otel")
        attributes["otel"] = otel
    return attributes


def _base_event(kind: str, res: Resource, time_ns: int) -> dict[str, object]:
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
    try:
        return orjson.dumps(body).decode()
    except orjson.JSONEncodeError as exc:  # OTLP/JSON decodes deeper bodies than JSON can encode (254 levels)
        raise Unmappable(f"body is nested too deeply to be stored: {exc}") from None


def log_event(res: Resource, *, time_ns: int, observed_ns: int, severity_number: int, severity_text: str,
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


def _http_duration_event(res: Resource, otel: dict[str, object], *, name: str, unit: str, time_ns: int,
                         mean: float, attributes: dict[str, object]) -> dict[str, object]:
    """An HTTP server duration histogram point -> one ``api_metric`` row with the mean duration."""
    scale = _MS_PER_UNIT.get(unit or HTTP_SERVER_DURATIONS[name])
    if scale is None:
        raise Unmappable(f"{name}: unsupported duration unit {unit!r}")
    event = _base_event("api_metric", res, time_ns)
    event["response_time_ms"] = mean * scale
    _move(event, attributes, "endpoint", ("http.route",), _API_CHECKS["endpoint"])
    event.setdefault("endpoint", UNMATCHED_ROUTE)
    for column, keys, expected in _API_ATTRIBUTE_COLUMNS:
        _move(event, attributes, column, keys, _API_CHECKS[column])
        if column not in event:
            found = next((attributes[k] for k in keys if attributes.get(k) is not None), None)
            if found is None:
                raise Unmappable(f"{name}: data point has no {keys[0]} attribute")
            raise Unmappable(f"{name}: {keys[0]} {found!r:.40} is not {expected}")
    event["metadata"] = _metadata(attributes, otel)
    return event


def _system_metric_event(res: Resource, otel: dict[str, object], *, name: str, unit: str, time_ns: int,
                         value: float, attributes: dict[str, object]) -> dict[str, object]:
    event = _base_event("system_metric", res, time_ns)
    if is_host_metric(name):
        row = host_metric(name, unit, value, attributes)
        event["metric_type"], event["metric_name"], event["value"], unit = (
            row.metric_type, row.metric_name, row.value, row.unit)
    else:
        # Prometheus-style "node_cpu_seconds_total" -> "node"; "db.client.operation.duration" -> "db".
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


def number_point(res: Resource, batch: OtlpBatch, metric_otel: dict[str, object], *, name: str,
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


def distribution_point(res: Resource, batch: OtlpBatch, metric_otel: dict[str, object], *, name: str,
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
        otel["min"] = json_safe_double(minimum)
    if maximum is not None:
        otel["max"] = json_safe_double(maximum)
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
    except Unmappable as exc:
        batch.reject(str(exc))
        return
    batch.events.append(event)


def metric_otel(res: Resource, aggregation: str, temporality: int | None,
                 monotonic: bool | None) -> dict[str, object]:
    otel = dict(res.otel)
    otel["aggregation"] = aggregation
    if temporality in _TEMPORALITY:
        otel["temporality"] = _TEMPORALITY[temporality]
    if monotonic is not None:
        otel["monotonic"] = monotonic
    return otel

