"""The shipper's system-metrics reporter (lookout-client[system], psutil) through the real stack:
reporter -> Client -> collector -> Kafka -> pipeline -> ClickHouse's system_metrics columns."""

from __future__ import annotations

import uuid

import pytest
from lookout_client import Client
from lookout_client.system import SystemMetricsReporter

from tests.integration.conftest import eventually
from warehouse import clickhouse

pytestmark = pytest.mark.integration


def _rows(settings, instance: str) -> list[tuple]:
    client = clickhouse.connect(settings.clickhouse_dsn)
    try:
        return client.query(
            "SELECT metric_type, metric_name, value, unit, service FROM system_metrics FINAL "
            "WHERE instance = {i:String}", parameters={"i": instance}).result_rows
    finally:
        client.close()


def test_reporter_readings_land_in_system_metric_columns(collector_url, ingest_key, node, settings):
    instance = f"host-{uuid.uuid4().hex[:6]}"
    client = Client(collector_url, ingest_key, service="payments-api", instance=instance, flush_interval=0.2)
    reporter = SystemMetricsReporter(client, interval=0.3).start()
    try:
        rows = eventually(lambda: (found := _rows(settings, instance))
                          and {row[0] for row in found} >= {"cpu", "load", "memory", "disk", "process"} and found,
                          timeout_s=30)
    finally:
        reporter.stop()
        client.close()
    assert client.stats.rejected == 0
    assert {row[4] for row in rows} == {"payments-api"}
    by_name = {row[1]: row for row in rows}
    memory = by_name["system.memory.utilization.used"]
    assert memory[0] == "memory" and memory[3] == "percent" and 0 < memory[2] <= 100
    assert by_name["system.memory.usage.used"][3] == "bytes" and by_name["system.memory.usage.used"][2] > 0
    assert by_name["system.cpu.load_average.1m"][0] == "load"
    assert 0 <= by_name["system.cpu.utilization"][2] <= 100
