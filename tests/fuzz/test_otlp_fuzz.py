"""The OTLP decoders: any body, in either encoding, maps to events and counted rejections or is refused
as a whole with a BodyError; the events it maps are then validated by the contract without surprises
(collector.packing runs exactly what /v1/logs and /v1/metrics run after the mapping).

Documents are generated in OTLP's own shape with every leaf replaced by anything now and then, so the
search reaches the per-field checks instead of stopping at the first missing key.
"""

from __future__ import annotations

import time

from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import event, example, given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from collector import otlp, packing
from collector.body import BodyError
from tests.fuzz.strategies import dump, json_values

NOW_NS = time.time_ns()
JSON = "application/json"
PROTOBUF = "application/x-protobuf"


def maybe(good: st.SearchStrategy, odds: int = 7) -> st.SearchStrategy:
    """Mostly well-formed values (``odds`` to one), sometimes anything at all."""
    garbage = json_values(max_leaves=4)
    return st.sampled_from([True] * odds + [False]).flatmap(lambda well_formed: good if well_formed else garbage)


def rarely_broken(good: st.SearchStrategy) -> st.SearchStrategy:
    """For what breaks the whole body when wrong (a resource, a scope, a list of blocks)."""
    return maybe(good, odds=20)


INTS = st.one_of(st.integers(0, 1000), st.integers(-(2**70), 2**70), st.integers(0, 2**64).map(str),
                st.sampled_from(["9" * 400, "²", "0x1"]))
TIMES = maybe(st.one_of(st.just(str(NOW_NS)), st.integers(NOW_NS - 10**15, NOW_NS + 10**15).map(str),
                        st.integers(NOW_NS - 10**15, NOW_NS + 10**15), INTS))
ANY_VALUE = st.recursive(
    st.one_of(
        st.builds(lambda v: {"stringValue": v}, maybe(st.text(max_size=20))),
        st.builds(lambda v: {"intValue": v}, INTS),
        st.builds(lambda v: {"doubleValue": v}, maybe(st.one_of(st.floats(), st.sampled_from(["NaN", "-Infinity"])))),
        st.builds(lambda v: {"boolValue": v}, maybe(st.booleans())),
        st.builds(lambda v: {"bytesValue": v}, maybe(st.text(max_size=12))),
        st.just({}),
    ),
    lambda children: st.one_of(
        st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(children, max_size=3)),
        st.builds(lambda kv: {"kvlistValue": {"values": kv}},
                  st.lists(st.builds(lambda k, v: {"key": k, "value": v}, st.text(max_size=8), children), max_size=3)),
    ),
    max_leaves=6,
)
ATTRIBUTE_KEYS = st.sampled_from(["service.name", "service.instance.id", "host.name", "http.route", "url.path",
                                  "http.request.method", "http.response.status_code", "level", "request_id", "x"])
ATTRIBUTES = maybe(st.lists(st.builds(lambda k, v: {"key": k, "value": v}, maybe(ATTRIBUTE_KEYS), maybe(ANY_VALUE)),
                            max_size=4))
IDS = maybe(st.one_of(st.binary(min_size=0, max_size=17).map(bytes.hex), st.text(max_size=32),
                      st.sampled_from(["é" * 32, "AAAAAAAAAAAAAAAAAAAAAA==", "0" * 32])))


def fields(required: dict[str, st.SearchStrategy] | None = None,
           **optional: st.SearchStrategy) -> st.SearchStrategy[dict[str, object]]:
    """An object with the required fields and a random subset of the optional ones."""
    return st.fixed_dictionaries(required or {}, optional=optional)


LOG_RECORD = fields(
    {"timeUnixNano": TIMES}, observedTimeUnixNano=TIMES,
    severityNumber=maybe(st.one_of(st.integers(-5, 30), st.sampled_from(["SEVERITY_NUMBER_ERROR", "17", "BAD"]))),
    severityText=maybe(st.sampled_from(["INFO", "error", "", "fatal"])), body=maybe(ANY_VALUE),
    attributes=ATTRIBUTES, traceId=IDS, spanId=IDS, eventName=maybe(st.text(max_size=8)),
)
RESOURCE = fields(attributes=rarely_broken(st.lists(st.builds(lambda k, v: {"key": k, "value": v}, ATTRIBUTE_KEYS,
                                                              rarely_broken(ANY_VALUE)), max_size=3)))
SCOPE = fields(name=rarely_broken(st.text(max_size=8)), version=rarely_broken(st.text(max_size=8)))


def document(outer: str, inner: str, items: str, item: st.SearchStrategy) -> st.SearchStrategy[dict[str, object]]:
    def some(strategy: st.SearchStrategy, most: int) -> st.SearchStrategy:
        return rarely_broken(st.lists(strategy, min_size=1, max_size=most))

    scope_block = fields({items: some(item, 4)}, scope=rarely_broken(SCOPE))
    block = fields({inner: some(scope_block, 2)}, resource=rarely_broken(RESOURCE))
    return fields({outer: some(block, 2)})


LOGS = document("resourceLogs", "scopeLogs", "logRecords", LOG_RECORD)
NUMBER_POINT = fields({"timeUnixNano": TIMES}, attributes=ATTRIBUTES, flags=maybe(INTS),
                      asDouble=maybe(st.floats()), asInt=INTS)
DISTRIBUTION_POINT = fields({"timeUnixNano": TIMES, "count": INTS}, attributes=ATTRIBUTES, flags=maybe(INTS),
                            sum=maybe(st.floats()), min=maybe(st.floats()), max=maybe(st.floats()))


def _aggregation(point: st.SearchStrategy) -> st.SearchStrategy:
    return fields(dataPoints=rarely_broken(st.lists(point, min_size=1, max_size=3)),
                  isMonotonic=rarely_broken(st.booleans()),
                  aggregationTemporality=rarely_broken(st.sampled_from([0, 1, 2, "AGGREGATION_TEMPORALITY_DELTA", 99])))


METRIC = st.builds(
    lambda name, unit, data: {"name": name, "unit": unit, **data},
    rarely_broken(st.sampled_from(["http.server.request.duration", "system.cpu.utilization", "node_load1", ""])),
    rarely_broken(st.sampled_from(["s", "ms", "1", "By", ""])),
    st.one_of(
        st.builds(lambda kind, data: {kind: data}, st.sampled_from(["gauge", "sum"]), _aggregation(NUMBER_POINT)),
        st.builds(lambda kind, data: {kind: data}, st.sampled_from(["histogram", "summary", "exponentialHistogram"]),
                  _aggregation(DISTRIBUTION_POINT)),
    ),
)
METRICS = document("resourceMetrics", "scopeMetrics", "metrics", METRIC)


def check(batch_of: callable, body: bytes, content_type: str) -> None:
    try:
        batch = batch_of(body, content_type)
    except BodyError as exc:
        assert exc.status in (400, 415) and exc.reason
        event(f"{content_type}: refused {exc.status} {exc.reason[:40]}")
        return
    assert batch.rejected >= len(batch.errors)
    result = packing.build_records(batch.events, now_ms=NOW_NS // 10**6, may_send=lambda _kind: True,
                                   topic_for=lambda kind: kind, max_event_bytes=64 * 1024)
    assert result.accepted + result.rejected == len(batch.events)
    event(f"{content_type}: {'some' if result.accepted else 'no'} events accepted")


def _as_protobuf(doc: dict[str, object], message: type[Message]) -> bytes | None:
    try:
        return json_format.ParseDict(doc, message()).SerializeToString()
    except (json_format.ParseError, ValueError, TypeError, OverflowError):
        return None


@given(LOGS)
@example({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"intValue": str(2**64)}}]}]}]})  # once 500
@example({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "é" * 32, "spanId": "ü" * 16}]}]}]})  # 500
def test_otlp_json_logs(doc: dict[str, object]) -> None:
    check(otlp.logs_from_otlp, dump(doc), JSON)
    encoded = _as_protobuf(doc, ExportLogsServiceRequest)
    if encoded is not None:
        check(otlp.logs_from_otlp, encoded, PROTOBUF)


@given(METRICS)
@example({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
    {"name": "m", "gauge": {"dataPoints": [{"asInt": "9" * 400}]}}]}]}]})  # once 500
@example({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
    {"name": "m", "histogram": {"dataPoints": [{"count": "9" * 400}]}}]}]}]})  # once 500
@example({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
    {"name": "m", "summary": {"dataPoints": [{"count": "9" * 400}]}}]}]}]})  # once 500
def test_otlp_json_metrics(doc: dict[str, object]) -> None:
    check(otlp.metrics_from_otlp, dump(doc), JSON)
    encoded = _as_protobuf(doc, ExportMetricsServiceRequest)
    if encoded is not None:
        check(otlp.metrics_from_otlp, encoded, PROTOBUF)


@given(st.binary(max_size=256), st.sampled_from([JSON, PROTOBUF, "application/protobuf", "text/plain"]))
def test_any_bytes(body: bytes, content_type: str) -> None:
    check(otlp.logs_from_otlp, body, content_type)
    check(otlp.metrics_from_otlp, body, content_type)


@given(METRICS, st.data())
def test_damaged_protobuf(doc: dict[str, object], data: st.DataObject) -> None:
    encoded = _as_protobuf(doc, ExportMetricsServiceRequest)
    if not encoded:
        return
    at = data.draw(st.integers(0, len(encoded) - 1))
    damaged = encoded[:at] + data.draw(st.binary(min_size=1, max_size=4)) + encoded[at + 1:]
    check(otlp.metrics_from_otlp, damaged, PROTOBUF)
    check(otlp.logs_from_otlp, damaged, PROTOBUF)


