"""OpenTelemetry's own SDK exporters, pointed at the collector, work unchanged."""

from __future__ import annotations

import logging
import uuid

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
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
    assert system == [("system", "system.cpu.utilization", pytest.approx(0.42))]
    api = eventually(
        lambda: _rows(
            settings,
            "SELECT endpoint, method, status_code, response_time_ms FROM api_metrics FINAL WHERE service = {s:String}",
            s=service,
        ),
        timeout_s=30,
    )
    assert api == [("/v1/pay", "POST", 201, pytest.approx(100.0))]
