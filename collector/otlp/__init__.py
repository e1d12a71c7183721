"""OTLP/HTTP logs and metrics -> Lookout raw events, so any OpenTelemetry SDK or Collector can ship
to Lookout unchanged.

The output is raw event dicts that still go through ``lookout.contract.validate_event``: this module
only translates, the contract decides. Both encodings are supported.

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

Layout: ``json_reader`` and ``protobuf_reader`` each turn one encoding into normalized records;
``mapping`` holds the rules above, once for both.
"""

from __future__ import annotations

from collector.body import media_type
from collector.otlp import json_reader, protobuf_reader
from collector.otlp.mapping import HTTP_SERVER_DURATIONS, MAX_ERROR_REASONS, UNKNOWN_SERVICE, UNMATCHED_ROUTE, OtlpBatch

__all__ = [
    "HTTP_SERVER_DURATIONS",
    "JSON_TYPE",
    "MAX_ERROR_REASONS",
    "OTLP_TYPES",
    "PROTOBUF_TYPES",
    "UNKNOWN_SERVICE",
    "UNMATCHED_ROUTE",
    "OtlpBatch",
    "logs_from_otlp",
    "metrics_from_otlp",
]

JSON_TYPE = "application/json"
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
OTLP_TYPES = frozenset({JSON_TYPE}) | PROTOBUF_TYPES


def logs_from_otlp(data: bytes, content_type: str | None) -> OtlpBatch:
    """An ``ExportLogsServiceRequest`` body (already decompressed) -> ``log`` raw events.

    Raises UnsupportedMediaType (415) or MalformedBody (400) for the body as a whole; records that cannot
    be mapped are counted in ``rejected``. The caller still applies its max_events limit to ``events``.
    """
    batch = OtlpBatch()
    if media_type(content_type, OTLP_TYPES) == JSON_TYPE:
        json_reader.read_logs(data, batch)
    else:
        protobuf_reader.read_logs(data, batch)
    return batch


def metrics_from_otlp(data: bytes, content_type: str | None) -> OtlpBatch:
    """An ``ExportMetricsServiceRequest`` body (already decompressed) -> ``system_metric`` and
    ``api_metric`` raw events, one per data point; errors as for :func:`logs_from_otlp`."""
    batch = OtlpBatch()
    if media_type(content_type, OTLP_TYPES) == JSON_TYPE:
        json_reader.read_metrics(data, batch)
    else:
        protobuf_reader.read_metrics(data, batch)
    return batch
