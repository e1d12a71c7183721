"""The OpenTelemetry Collector's ``hostmetrics`` receiver -> ``system_metric`` columns. Pure: no I/O.

The receiver's scrapers emit one data point per metric and attribute set (its documentation, receiver/
hostmetricsreceiver/internal/scraper/*/documentation.md): ``system.cpu.time`` and
``system.cpu.utilization`` by ``cpu`` and ``state``, ``system.memory.usage``/``utilization`` by
``state``, ``system.filesystem.usage`` by ``device``, ``mountpoint``, ``type``, ``mode`` and ``state``,
``system.cpu.load_average.1m``, ``system.network.io`` by ``device`` and ``direction``,
``system.processes.count`` by ``status``...

The rows they become are the ones Lookout's Python shipper reports from psutil (lookout_client.system),
so a dashboard or an alert rule reads the same series whichever produced them:

* ``metric_type`` is the seed's category: cpu, load, memory, disk, network, process (else the name's first
  segment, as for any other metric).
* ``metric_name`` is the OpenTelemetry name plus the value of the attribute that splits one quantity into
  parts, ``state``, ``direction`` or ``status``: ``system.memory.usage.used``,
  ``system.network.io.transmit``. Identity attributes (``cpu``, ``device``, ``mountpoint``...) stay in
  metadata: an alert averages over CPUs or filters on a device there.
* Units: utilizations (ratio ``1``) become ``percent`` (value x 100), as the seed's metrics are; ``By`` is
  ``bytes``; an annotation ``{thread}`` is ``thread``; others pass.
"""

from __future__ import annotations

from dataclasses import dataclass

# Longest prefix first: the load average is its own category although it sits under system.cpu.
_TYPES: tuple[tuple[str, str], ...] = (
    ("system.cpu.load_average.", "load"),
    ("system.cpu.", "cpu"),
    ("system.memory.", "memory"),
    ("system.linux.memory.", "memory"),
    ("system.paging.", "memory"),
    ("system.disk.", "disk"),
    ("system.filesystem.", "disk"),
    ("system.network.", "network"),
    ("system.processes.", "process"),
    ("process.", "process"),
)
# The attribute that splits a quantity into parts (each part its own series), by the receiver's names.
PART_ATTRIBUTES = ("state", "direction", "status")
_UNITS = {"By": "bytes", "s": "s"}
_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class HostMetric:
    metric_type: str
    metric_name: str
    value: float
    unit: str


def is_host_metric(name: str) -> bool:
    return any(name.startswith(prefix) for prefix, _ in _TYPES)


def host_metric(name: str, unit: str, value: float, attributes: dict[str, object]) -> HostMetric:
    """The row of one hostmetrics data point; the part attribute is taken out of ``attributes``."""
    metric_type = next(kind for prefix, kind in _TYPES if name.startswith(prefix))
    metric_name = name
    for attribute in PART_ATTRIBUTES:
        part = attributes.get(attribute)
        if type(part) is str and part and len(name) + 1 + len(part) <= _NAME_MAX:
            metric_name = f"{name}.{part}"
            del attributes[attribute]
            break
    if unit == "1" and name.endswith(".utilization"):
        return HostMetric(metric_type, metric_name, value * 100, "percent")
    if unit.startswith("{") and unit.endswith("}"):
        unit = unit[1:-1]
    return HostMetric(metric_type, metric_name, value, _UNITS.get(unit, unit))
