"""lookout_client.system reads this machine through psutil into system_metric events the contract takes, named
as the hostmetrics mapping names the same measurements (so both fill the same series)."""

from __future__ import annotations

import time

from lookout_client.system import read_system_metrics

from collector.otlp.hostmetrics import PART_ATTRIBUTES, host_metric
from lookout.contract import validate_event

# The hostmetrics receiver's metric for each series the reporter sends: (name, unit, part attribute or None).
HOSTMETRICS = {
    "system.cpu.utilization": ("1", "state"),
    "system.cpu.load_average.1m": ("{thread}", None),
    "system.cpu.load_average.5m": ("{thread}", None),
    "system.cpu.load_average.15m": ("{thread}", None),
    "system.memory.usage": ("By", "state"),
    "system.memory.utilization": ("1", "state"),
    "system.filesystem.usage": ("By", "state"),
    "system.filesystem.utilization": ("1", None),
    "system.network.io": ("By", "direction"),
    "system.processes.count": ("{processes}", "status"),
}


def _hostmetrics_row(metric_name: str) -> tuple[str, str, str]:
    """(metric_type, metric_name, unit) the hostmetrics mapping gives the receiver's point of this series."""
    base, _, part = metric_name.rpartition(".")
    if metric_name in HOSTMETRICS and HOSTMETRICS[metric_name][1] is None:
        base, part = metric_name, ""
    elif base not in HOSTMETRICS:  # the reporter's overall CPU figure: the receiver's name without a state
        base, part = metric_name, ""
    unit, attribute = HOSTMETRICS[base]
    attributes = {attribute: part} if attribute and part else {}
    assert attribute in (*PART_ATTRIBUTES, None)
    row = host_metric(base, unit, 0.5, attributes)
    return row.metric_type, row.metric_name, row.unit


def test_a_reading_covers_every_area_and_each_event_is_valid() -> None:
    events = read_system_metrics()
    now_ms = int(time.time() * 1000)
    kinds = {event["metric_type"] for event in events}
    assert kinds >= {"cpu", "load", "memory", "disk", "process"}  # network: only when an interface besides lo exists
    for event in events:
        validate_event({**event, "service": "host", "timestamp": now_ms}, now_ms)
    names = {event["metric_name"] for event in events}
    assert {
        "system.cpu.utilization",
        "system.cpu.load_average.1m",
        "system.memory.usage.used",
        "system.memory.utilization.used",
        "system.filesystem.usage.free",
    } <= names
    assert any(name.startswith("system.processes.count.") for name in names)


def test_reporter_names_and_units_are_the_hostmetrics_mappings() -> None:
    for event in read_system_metrics():
        assert _hostmetrics_row(event["metric_name"]) == (event["metric_type"], event["metric_name"], event["unit"])
