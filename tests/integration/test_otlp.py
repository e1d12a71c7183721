"""OpenTelemetry's own SDK exporters, pointed at the collector, work unchanged."""

from __future__ import annotations

import gzip
import logging
import time
import uuid

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from tests.integration.conftest import eventually
from warehouse import clickhouse

pytestmark = pytest.mark.integration


def _rows(settings, sql, **params):
    client = clickhouse.connect(settings.clickhouse_dsn)
    try:
        return client.query(sql, parameters=params).result_rows
    finally:
        client.close()


def test_otel_sdk_logs_arrive_as_log_events(collector_url, ingest_key, node, settings):
    service = f"otel-logs-{uuid.uuid4().hex[:6]}"
    provider = LoggerProvider(resource=Resource.create({"service.name": service, "service.instance.id": "pod-7"}))
    exporter = OTLPLogExporter(endpoint=f"{collector_url}/v1/logs", headers={"Authorization": f"Bearer {ingest_key}"})
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger(f"otel-test-{service}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    logger.setLevel(logging.DEBUG)
    try:
        logger.warning("disk almost full", extra={"http.route": "/v1/upload"})
        logger.error("upload failed")
        provider.force_flush()
    finally:
        provider.shutdown()

    rows = eventually(
        lambda: (
            _rows(
                settings,
                "SELECT level, message, instance FROM logs FINAL WHERE service = {s:String} ORDER BY timestamp",
                s=service,
            )
            if len(_rows(settings, "SELECT 1 FROM logs FINAL WHERE service = {s:String}", s=service)) == 2
            else None
        ),
        timeout_s=30,
    )
    assert rows == [("warn", "disk almost full", "pod-7"), ("error", "upload failed", "pod-7")]


def test_otel_sdk_metrics_arrive_as_system_and_api_metrics(collector_url, ingest_key, node, settings):
    service = f"otel-metrics-{uuid.uuid4().hex[:6]}"
    exporter = OTLPMetricExporter(
        endpoint=f"{collector_url}/v1/metrics", headers={"Authorization": f"Bearer {ingest_key}"}
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader])
    meter = provider.get_meter("lookout-tests")
    meter.create_gauge("system.cpu.utilization", unit="1").set(0.42, {"cpu": "0"})
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    attributes = {"http.route": "/v1/pay", "http.request.method": "POST", "http.response.status_code": 201}
    duration.record(0.120, attributes)
    duration.record(0.080, attributes)
    provider.shutdown()  # exports once (a force_flush too would export the cumulative points twice)

    system = eventually(
        lambda: _rows(
            settings,
            "SELECT metric_type, metric_name, value FROM system_metrics FINAL WHERE service = {s:String}",
            s=service,
        ),
        timeout_s=30,
    )
    assert system == [("cpu", "system.cpu.utilization", pytest.approx(42.0))]  # a ratio is stored in percent
    api = eventually(
        lambda: _rows(
            settings,
            "SELECT endpoint, method, status_code, response_time_ms FROM api_metrics FINAL WHERE service = {s:String}",
            s=service,
        ),
        timeout_s=30,
    )
    assert api == [("/v1/pay", "POST", 201, pytest.approx(100.0))]


def test_hostmetrics_receiver_export_lands_in_system_metric_columns(collector_url, ingest_key, node, settings):
    """The body the Collector's otlphttp exporter sends for the hostmetrics receiver (protobuf, gzip), with the
    metric names, units and attributes of its scrapers' documentation."""
    host = f"db-{uuid.uuid4().hex[:6]}"
    now_ns = time.time_ns()

    def point(value: float | int, **attributes: str) -> metrics_pb2.NumberDataPoint:
        kind = {"as_int": value} if type(value) is int else {"as_double": value}
        return metrics_pb2.NumberDataPoint(
            time_unix_nano=now_ns, start_time_unix_nano=now_ns - 10**10, **kind,
            attributes=[common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
                        for k, v in attributes.items()])

    def cumulative(*points: metrics_pb2.NumberDataPoint) -> metrics_pb2.Sum:
        return metrics_pb2.Sum(data_points=points, is_monotonic=True,
                               aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE)

    scraped = [
        metrics_pb2.Metric(name="system.cpu.utilization", unit="1",
                           gauge=metrics_pb2.Gauge(data_points=[point(0.25, cpu="cpu0", state="user")])),
        metrics_pb2.Metric(name="system.cpu.load_average.1m", unit="{thread}",
                           gauge=metrics_pb2.Gauge(data_points=[point(1.5)])),
        metrics_pb2.Metric(name="system.memory.usage", unit="By", sum=metrics_pb2.Sum(
            data_points=[point(3_000_000_000, state="used")],
            aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE)),
        metrics_pb2.Metric(name="system.filesystem.usage", unit="By", sum=metrics_pb2.Sum(
            data_points=[point(40_000_000_000, device="/dev/vda1", mode="rw", mountpoint="/", type="ext4",
                               state="free")],
            aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE)),
        metrics_pb2.Metric(name="system.network.io", unit="By",
                           sum=cumulative(point(987_654, device="eth0", direction="transmit"))),
        metrics_pb2.Metric(name="system.processes.count", unit="{processes}", sum=metrics_pb2.Sum(
            data_points=[point(4, status="running")],
            aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE)),
    ]
    request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[metrics_pb2.ResourceMetrics(
        resource=resource_pb2.Resource(attributes=[
            common_pb2.KeyValue(key="host.name", value=common_pb2.AnyValue(string_value=host)),
            common_pb2.KeyValue(key="os.type", value=common_pb2.AnyValue(string_value="linux")),
        ]),
        scope_metrics=[metrics_pb2.ScopeMetrics(
            scope=common_pb2.InstrumentationScope(name="otelcol/hostmetricsreceiver", version="0.115.0"),
            metrics=scraped)],
    )])
    r = requests.post(f"{collector_url}/v1/metrics", data=gzip.compress(request.SerializeToString()),
                      headers={"Authorization": f"Bearer {ingest_key}", "Content-Type": "application/x-protobuf",
                               "Content-Encoding": "gzip"}, timeout=10)
    assert r.status_code == 200, r.text

    rows = eventually(
        lambda: len(found := _rows(
            settings,
            "SELECT metric_type, metric_name, value, unit, metadata FROM system_metrics FINAL "
            "WHERE instance = {h:String} ORDER BY metric_name",
            h=host,
        )) == 6 and found,
        timeout_s=30,
    )
    by_name = {name: (kind, value, unit, metadata) for kind, name, value, unit, metadata in rows}
    assert by_name["system.cpu.utilization.user"][:3] == ("cpu", pytest.approx(25.0), "percent")
    assert by_name["system.cpu.load_average.1m"][:3] == ("load", pytest.approx(1.5), "thread")
    assert by_name["system.memory.usage.used"][:3] == ("memory", 3e9, "bytes")
    assert by_name["system.filesystem.usage.free"][:3] == ("disk", 4e10, "bytes")
    assert by_name["system.network.io.transmit"][:3] == ("network", 987654, "bytes")
    assert by_name["system.processes.count.running"][:3] == ("process", 4, "processes")
    assert '"mountpoint":"/"' in by_name["system.filesystem.usage.free"][3].replace(" ", "")
