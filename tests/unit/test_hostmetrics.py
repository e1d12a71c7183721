"""The hostmetrics receiver's metrics (names, units and attributes from its scrapers' documentation) ->
system_metric rows, table-tested, then through the OTLP JSON reader as the Collector's otlphttp exporter sends."""

from __future__ import annotations

import orjson
import pytest

from collector.otlp import metrics_from_otlp
from collector.otlp.hostmetrics import HostMetric, host_metric, is_host_metric
from lookout.contract import validate_event


@pytest.mark.parametrize(
    ("name", "unit", "value", "attributes", "row", "left"),
    [
        (
            "system.cpu.time",
            "s",
            1234.5,
            {"cpu": "cpu0", "state": "user"},
            HostMetric("cpu", "system.cpu.time.user", 1234.5, "s"),
            {"cpu": "cpu0"},
        ),
        (
            "system.cpu.utilization",
            "1",
            0.125,
            {"cpu": "cpu1", "state": "idle"},
            HostMetric("cpu", "system.cpu.utilization.idle", 12.5, "percent"),
            {"cpu": "cpu1"},
        ),
        (
            "system.cpu.load_average.1m",
            "{thread}",
            0.42,
            {},
            HostMetric("load", "system.cpu.load_average.1m", 0.42, "thread"),
            {},
        ),
        (
            "system.memory.usage",
            "By",
            2.0e9,
            {"state": "used"},
            HostMetric("memory", "system.memory.usage.used", 2.0e9, "bytes"),
            {},
        ),
        (
            "system.memory.utilization",
            "1",
            0.5,
            {"state": "cached"},
            HostMetric("memory", "system.memory.utilization.cached", 50.0, "percent"),
            {},
        ),
        (
            "system.filesystem.usage",
            "By",
            7.0e10,
            {"device": "/dev/sda1", "mode": "rw", "mountpoint": "/", "type": "ext4", "state": "free"},
            HostMetric("disk", "system.filesystem.usage.free", 7.0e10, "bytes"),
            {"device": "/dev/sda1", "mode": "rw", "mountpoint": "/", "type": "ext4"},
        ),
        (
            "system.filesystem.utilization",
            "1",
            0.3,
            {"device": "/dev/sda1", "mountpoint": "/"},
            HostMetric("disk", "system.filesystem.utilization", 30.0, "percent"),
            {"device": "/dev/sda1", "mountpoint": "/"},
        ),
        (
            "system.disk.io",
            "By",
            5.0e6,
            {"device": "sda", "direction": "read"},
            HostMetric("disk", "system.disk.io.read", 5.0e6, "bytes"),
            {"device": "sda"},
        ),
        (
            "system.network.io",
            "By",
            9.0e5,
            {"device": "eth0", "direction": "transmit"},
            HostMetric("network", "system.network.io.transmit", 9.0e5, "bytes"),
            {"device": "eth0"},
        ),
        (
            "system.network.connections",
            "{connections}",
            12,
            {"protocol": "tcp", "state": "ESTABLISHED"},
            HostMetric("network", "system.network.connections.ESTABLISHED", 12, "connections"),
            {"protocol": "tcp"},
        ),
        (
            "system.processes.count",
            "{processes}",
            3,
            {"status": "running"},
            HostMetric("process", "system.processes.count.running", 3, "processes"),
            {},
        ),
        (
            "system.paging.usage",
            "By",
            0.0,
            {"device": "/swap", "state": "used"},
            HostMetric("memory", "system.paging.usage.used", 0.0, "bytes"),
            {"device": "/swap"},
        ),
        (
            "process.cpu.time",
            "s",
            3.5,
            {"state": "system"},
            HostMetric("process", "process.cpu.time.system", 3.5, "s"),
            {},
        ),
    ],
)
def test_host_metric(name: str, unit: str, value: float, attributes: dict, row: HostMetric, left: dict) -> None:
    assert is_host_metric(name)
    assert host_metric(name, unit, value, attributes) == row
    assert attributes == left


def test_other_metrics_are_not_host_metrics() -> None:
    assert not is_host_metric("http.server.request.duration")
    assert not is_host_metric("node_cpu_seconds_total")


def _gauge(name: str, unit: str, points: list[dict]) -> dict:
    return {"name": name, "unit": unit, "gauge": {"dataPoints": points}}


def _point(value: float | str, **attributes: str) -> dict:
    # A string is an int64 as OTLP/JSON writes it (asInt), a float a double (asDouble).
    return {
        "timeUnixNano": "1796122800000000000",
        ("asInt" if type(value) is str else "asDouble"): value,
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }


def test_an_otlp_export_of_the_hostmetrics_receiver() -> None:
    body = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [
                        {"key": "host.name", "value": {"stringValue": "db-1"}},
                        {"key": "service.name", "value": {"stringValue": "hosts"}},
                    ]
                },
                "scopeMetrics": [
                    {
                        "scope": {
                            "name": "github.com/open-telemetry/opentelemetry-collector-contrib/"
                            "receiver/hostmetricsreceiver"
                            "/internal/scraper/memoryscraper",
                            "version": "0.115.0",
                        },
                        "metrics": [
                            _gauge(
                                "system.memory.utilization",
                                "1",
                                [_point(0.61, state="used"), _point(0.2, state="free")],
                            ),
                            {
                                "name": "system.network.io",
                                "unit": "By",
                                "sum": {
                                    "aggregationTemporality": 2,
                                    "isMonotonic": True,
                                    "dataPoints": [_point("123456789", device="eth0", direction="receive")],
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }
    batch = metrics_from_otlp(orjson.dumps(body), "application/json")
    assert batch.rejected == 0
    rows = {e["metric_name"]: e for e in batch.events}
    used = rows["system.memory.utilization.used"]
    assert (used["service"], used["instance"], used["metric_type"], used["unit"]) == (
        "hosts",
        "db-1",
        "memory",
        "percent",
    )
    assert used["value"] == pytest.approx(61.0)
    received = rows["system.network.io.receive"]
    assert (received["metric_type"], received["value"], received["unit"]) == ("network", 123456789.0, "bytes")
    assert received["metadata"]["device"] == "eth0" and "direction" not in received["metadata"]
    for event in batch.events:
        validate_event(event, 1796122800000)
