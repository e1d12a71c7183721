"""System metrics of the machine the application runs on, every N seconds, through psutil.

An optional extra: ``pip install 'lookout-client[system]'`` brings psutil; without it the rest of the
shipper stays standard-library only and this module is never imported by ``lookout_client``::

    from lookout_client import Client
    from lookout_client.system import SystemMetricsReporter

    client = Client("https://lookout.example.com", api_key, service="payments-api", instance="web-1")
    reporter = SystemMetricsReporter(client, interval=15).start()

Each reading becomes ``system_metric`` events named as the OpenTelemetry Collector's ``hostmetrics``
receiver names them once Lookout has mapped them (collector/otlp/hostmetrics.py), so both producers fill
the same series: ``metric_type`` cpu, load, memory, disk, network or process; ``metric_name`` the
OpenTelemetry name plus its state/direction/status part (``system.memory.usage.used``); utilizations
in percent, sizes in bytes, network counters cumulative since boot; the device, mount point or network
interface in metadata.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from typing import Any

import psutil

from ._client import Client

log = logging.getLogger("lookout_client")

# psutil's process statuses -> the hostmetrics receiver's status attribute values.
PROCESS_STATUSES = {
    "running": "running", "sleeping": "sleeping", "disk-sleep": "blocked", "stopped": "stopped",
    "tracing-stop": "stopped", "zombie": "zombies", "idle": "idle", "dead": "zombies", "parked": "idle",
    "waking": "running", "locked": "locked", "waiting": "blocked",
}
CPU_STATES = ("user", "system", "idle", "iowait", "nice", "steal")
# Pseudo and container file systems: their usage says nothing about the machine's disks.
_SKIPPED_FS = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs"})


def _metric(metric_type: str, name: str, value: float, unit: str, **metadata: str) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": "system_metric", "metric_type": metric_type, "metric_name": name,
                             "value": value, "unit": unit}
    if metadata:
        event["metadata"] = metadata
    return event


def read_system_metrics() -> list[dict[str, Any]]:
    """One reading of every metric, as events ready for :meth:`Client.send_many`.

    CPU percentages are since the previous call (the first call in a process reads near zero: psutil
    needs two samples).
    """
    events = [_metric("cpu", "system.cpu.utilization", psutil.cpu_percent(interval=None), "percent")]
    times = psutil.cpu_times_percent(interval=None)
    events += [_metric("cpu", f"system.cpu.utilization.{state}", getattr(times, state), "percent")
               for state in CPU_STATES if hasattr(times, state)]
    for period, load in zip(("1m", "5m", "15m"), os.getloadavg(), strict=True):
        events.append(_metric("load", f"system.cpu.load_average.{period}", load, "thread"))

    memory = psutil.virtual_memory()
    for state, attribute in (("used", "used"), ("free", "free"), ("cached", "cached"), ("buffered", "buffers")):
        if hasattr(memory, attribute):
            events.append(_metric("memory", f"system.memory.usage.{state}", getattr(memory, attribute), "bytes"))
    events.append(_metric("memory", "system.memory.utilization.used", memory.percent, "percent"))

    for partition in psutil.disk_partitions(all=False):
        if partition.fstype in _SKIPPED_FS:
            continue
        try:
            usage = psutil.disk_usage(partition.mountpoint)
        except OSError:  # unreadable or vanished mount point: skipped this time
            continue
        where = {"device": partition.device, "mountpoint": partition.mountpoint, "type": partition.fstype}
        events += [
            _metric("disk", "system.filesystem.usage.used", usage.used, "bytes", **where),
            _metric("disk", "system.filesystem.usage.free", usage.free, "bytes", **where),
            _metric("disk", "system.filesystem.utilization", usage.percent, "percent", **where),
        ]

    for device, counters in psutil.net_io_counters(pernic=True).items():
        if device == "lo":
            continue
        events += [
            _metric("network", "system.network.io.receive", counters.bytes_recv, "bytes", device=device),
            _metric("network", "system.network.io.transmit", counters.bytes_sent, "bytes", device=device),
        ]

    statuses: Counter[str] = Counter()
    for process in psutil.process_iter(["status"]):
        status = process.info.get("status")
        statuses[PROCESS_STATUSES.get(status, "unknown") if status else "unknown"] += 1
    events += [_metric("process", f"system.processes.count.{status}", count, "processes")
               for status, count in sorted(statuses.items())]
    return events


class SystemMetricsReporter:
    """Sends :func:`read_system_metrics` through ``client`` every ``interval`` seconds from a daemon thread.

    A reading that fails (psutil raising on an odd platform) is logged and skipped; the next one is tried.
    """

    def __init__(self, client: Client, interval: float = 15.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._client = client
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lookout-system-metrics", daemon=True)

    def start(self) -> SystemMetricsReporter:
        psutil.cpu_percent(interval=None)  # the first sample, so the first reading covers one interval
        psutil.cpu_times_percent(interval=None)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self._client.send_many(read_system_metrics())
            except Exception:  # never let a reading kill the thread
                log.warning("lookout_client: could not read system metrics", exc_info=True)
