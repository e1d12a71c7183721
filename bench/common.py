"""What both benchmarks share: a private stack, the collector under gunicorn, events, statistics.

Everything runs on 127.0.0.1 in a fresh temporary home on free ports (``Stack.for_tests``), so a
benchmark never touches a developer's ``lookout up`` or a concurrent test session, and everything it
started is stopped again in ``finally`` blocks (the collector by process group).
"""

from __future__ import annotations

import datetime as _dt
import http.client
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from access import keys
from app.demo import ENDPOINTS, SERVICES
from app.stack import Stack
from app.stack.base import find_free_port
from lookout.contract import validate_event
from lookout.records import RecordValue, encode_events
from lookout.settings import PROJECT_ROOT, Settings

_T0 = time.monotonic()


def progress(message: str) -> None:
    """One line of progress on stderr, stamped with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the machine


def machine_info() -> dict[str, str]:
    """What a result must be read against: cores, memory, load, versions, date."""
    try:
        free = subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        free = "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
        ).stdout.strip()
    except OSError:
        commit = "?"
    load1, load5, load15 = os.getloadavg()
    try:
        from kafka.record import util as _kafka_util

        crc = "C extension (crc32c package)" if _kafka_util.crc32c_c is not None else "pure Python (no crc32c package)"
    except ImportError:
        crc = "?"
    return {
        "kafka-python crc32c": crc,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "free -g": free,
        "loadavg at start": f"{load1:.2f} {load5:.2f} {load15:.2f}",
        "python": platform.python_version(),
        "commit": commit,
    }


def print_machine(info: Mapping[str, str]) -> None:
    print("machine:")
    for key, value in info.items():
        if "\n" in value:
            print(f"  {key}:")
            for line in value.splitlines():
                print(f"    {line}")
        else:
            print(f"  {key}: {value}")


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


class CpuMeter:
    """CPU seconds used by a set of processes (and this one) between start() and stop(), from /proc."""

    def __init__(self) -> None:
        self._start: dict[int, float] = {}
        self.seconds: dict[str, float] = {}

    @staticmethod
    def _cpu(pid: int) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    @staticmethod
    def tree(root: int) -> list[int]:
        """A process and its descendants (gunicorn master + workers)."""
        children: dict[int, list[int]] = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int(proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
        out, todo = [], [root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def start(self, groups: Mapping[str, Sequence[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._start = {pid: self._cpu(pid) for pids in self._groups.values() for pid in pids}
        self._t = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = max(1e-9, time.monotonic() - self._t)
        self.seconds = {
            name: sum(self._cpu(pid) - self._start.get(pid, 0.0) for pid in pids) / elapsed
            for name, pids in self._groups.items()
        }
        return self.seconds  # cores used on average, per group


# --------------------------------------------------------------------------- events

_MESSAGES = (
    "request completed: payment captured for merchant account",
    "slow database query on accounts lookup, retrying with replica",
    "upstream provider answered after retry; response cached for reuse",
    "session refreshed for user after token rotation on the gateway",
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def log_event(rng: random.Random, ts_ms: int, service: str | None = None, **extra: Any) -> dict[str, Any]:
    """A realistic log event of about 400 bytes of JSON (no event_id: the collector assigns one)."""
    service = service or rng.choice(SERVICES)
    method, endpoint = rng.choice(ENDPOINTS)
    request_id = _uuid(rng)
    event = {
        "kind": "log",
        "timestamp": ts_ms,
        "service": service,
        "instance": f"{service}-{rng.randint(1, 3)}",
        "level": rng.choice(("info", "info", "info", "warn", "error", "debug")),
        "message": rng.choice(_MESSAGES),
        "category": "API",
        "event_type": "http_request",
        "request_id": request_id,
        "endpoint": endpoint,
        "method": method,
        "status_code": rng.choice((200, 200, 200, 201, 404, 500)),
        "response_time_ms": round(rng.lognormvariate(3.2, 0.6), 2),
        "user_id": f"user-{rng.randint(1, 1_000_000)}",
    }
    event.update(extra)
    return event


def security_event(rng: random.Random, ts_ms: int, **extra: Any) -> dict[str, Any]:
    """A security event (PostgreSQL) of about 400 bytes of JSON."""
    event = {
        "kind": "security_event",
        "timestamp": ts_ms,
        "service": "auth",
        "instance": f"auth-{rng.randint(1, 3)}",
        "event_type": rng.choice(("failed_login", "suspicious_activity", "rate_limit_exceeded")),
        "severity": rng.choice(("low", "medium", "high")),
        "user_id": f"user-{rng.randint(1, 1_000_000)}",
        "ip_address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
        "endpoint": "/v1/auth/login",
        "threat_indicators": {"failed_attempts": rng.randint(1, 20), "window_s": 60, "geo": "unexpected"},
        "automatic_action_taken": "none",
    }
    event.update(extra)
    return event


def wire_records(events: Sequence[dict[str, Any]], now_ms: int) -> list[tuple[bytes, RecordValue]]:
    """(key, value and headers) Kafka records exactly as the collector builds them for one request of ``events``:
    validated, in the compact wire form, grouped by service, packed by lookout.records.encode_events."""
    groups: dict[str, list[bytes]] = {}
    for raw in events:
        event = validate_event(raw, now_ms)
        groups.setdefault(event.service, []).append(orjson.dumps(event.to_json_dict()))
    return [(service.encode(), value) for service, encoded in groups.items() for value in encode_events(encoded)]


# --------------------------------------------------------------------------- the stack


@dataclass
class BenchEnv:
    """A private stack (Kafka, PostgreSQL, Redis) plus migrated databases, topics and an ingest key."""

    settings: Settings
    stack: Stack
    home: Path
    ingest_key: str
    collectors: list[Collector] = field(default_factory=list)


class bench_env:  # noqa: N801 - used as a context manager, reads like one
    """``with bench_env(extra_env) as env:`` — starts everything in a temp dir, stops it all on exit."""

    def __init__(self, extra_env: Mapping[str, str] | None = None, keep: bool = False) -> None:
        self._extra = dict(extra_env or {})
        self._keep = keep
        self._stack: Stack | None = None
        self._home: Path | None = None
        self.env: BenchEnv | None = None

    def __enter__(self) -> BenchEnv:
        from lookout.topics import ensure_topics
        from warehouse.migrate import migrate

        self._home = Path(tempfile.mkdtemp(prefix="lookout-bench-"))
        self._home.chmod(0o755)  # the postgres OS user must traverse it
        try:
            self._stack = Stack.for_tests(self._home / "stack")
            progress(f"starting a private stack in {self._home} ...")
            for status in self._stack.up(timeout=120):
                progress(f"  {status.name} on {status.address} ({status.note})")
            base = Settings.from_env(
                {
                    "LOOKOUT_HOME": str(self._home),
                    "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{self._home / 'chdb'}",
                    "LOOKOUT_COLLECTOR_PORT": str(find_free_port()),
                    "LOOKOUT_DASHBOARD_PORT": str(find_free_port()),
                    **self._extra,
                }
            )
            settings = self._stack.apply_to(base)
            migrate(settings)
            ensure_topics(settings)
            key = keys.create_key(settings, "bench-ingest", list(keys.KINDS), 100_000_000, actor="bench").secret
            self.env = BenchEnv(settings, self._stack, self._home, key)
            return self.env
        except BaseException:
            self._cleanup()
            raise

    def __exit__(self, *_exc: object) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if self.env is not None:
            for collector in self.env.collectors:
                collector.stop()
        if self._stack is not None:
            progress("stopping the private stack ...")
            try:
                self._stack.down()
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                progress(f"  stack down failed: {exc}")
        if self._home is not None and not self._keep:
            shutil.rmtree(self._home, ignore_errors=True)


def create_topic(settings: Settings, name: str, partitions: int) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="lookout-bench")
    try:
        admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=30_000)
    finally:
        admin.close()


# --------------------------------------------------------------------------- the collector


class Collector:
    """The collector under gunicorn, exactly as ``lookout up`` starts it, in its own process group."""

    def __init__(self, env: BenchEnv, overrides: Mapping[str, str] | None = None) -> None:
        self.env = env
        self.overrides = dict(overrides or {})
        self.port = find_free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = env.home / f"collector-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> Collector:
        settings = self.env.settings.with_(collector_port=self.port)
        metrics_dir = self.env.home / f"collector-metrics-{self.port}"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        environ = {**os.environ, **settings.as_env(), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **self.overrides}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "collector" / "gunicorn_conf.py"),
             "collector.wsgi:app"],
            env=environ,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )  # fmt: skip
        self.env.collectors.append(self)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the collector exited with {self.proc.returncode}; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the collector did not become ready within {timeout_s:.0f}s; see {self.log_path}")

    def pids(self) -> list[int]:
        return CpuMeter.tree(self.proc.pid) if self.proc is not None else []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: gunicorn master + workers
        except ProcessLookupError:
            return
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        if self in self.env.collectors:
            self.env.collectors.remove(self)


def kafka_pid(env: BenchEnv) -> int | None:
    return env.stack.kafka.pid()


# --------------------------------------------------------------------------- Kafka's ProducerPerformance

_PERF_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
    r"(?:, (?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th)?"
)


@dataclass
class PerfResult:
    records: int
    records_per_s: float
    mb_per_s: float
    avg_ms: float
    p99_ms: float | None
    raw: str


def parse_perf(output: str) -> PerfResult:
    summary = [m for m in _PERF_SUMMARY.finditer(output) if m.group("p50") is not None]
    if not summary:
        raise RuntimeError(f"no ProducerPerformance summary in: {output[-500:]}")
    m = summary[-1]
    return PerfResult(
        records=int(m.group("records")),
        records_per_s=float(m.group("rps")),
        mb_per_s=float(m.group("mbps")),
        avg_ms=float(m.group("avg")),
        p99_ms=float(m.group("p99")),
        raw=m.group(0),
    )


def producer_props(compression: str) -> dict[str, str]:
    """The collector's producer settings (collector/producer.py) in Java property names."""
    return {
        "acks": "all",
        "enable.idempotence": "true",
        "compression.type": compression,
        "linger.ms": "2",
        "batch.size": str(1024 * 1024),
        "max.request.size": str(4 * 1024 * 1024),
    }


def perf_test_payload_file(
    bootstrap: str, topic: str, num_records: int, payloads: Sequence[bytes], props: Mapping[str, str], workdir: Path
) -> PerfResult:
    """ProducerPerformance sending real collector records (``--payload-file``) instead of random bytes.

    Random payloads do not compress, so with compression on they are not the same work as real
    records; this variant sends the very records the collector produced, one per line.
    """
    from app.stack.kafka import _java_argv  # the same JVM and jars as app.stack.producer_perf_test

    path = workdir / f"payloads-{os.getpid()}-{time.monotonic_ns()}.txt"
    path.write_bytes(b"\n".join(p for p in payloads if b"\n" not in p) + b"\n")
    argv = [
        *_java_argv("org.apache.kafka.tools.ProducerPerformance"),
        "--topic", topic, "--num-records", str(num_records), "--throughput", "-1",
        "--payload-file", str(path),
        "--producer-props", f"bootstrap.servers={bootstrap}", *(f"{k}={v}" for k, v in props.items()),
    ]  # fmt: skip
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    finally:
        path.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"ProducerPerformance failed: {(result.stderr + result.stdout)[-500:]}")
    return parse_perf(result.stdout)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------- profiling


class PySpy:
    """``py-spy record`` on a process tree (e.g. the gunicorn master and its workers), collapsed stacks."""

    def __init__(self, binary: str, pid: int, out: Path, duration_s: float, rate: int = 250, gil: bool = True) -> None:
        # --gil samples only the thread holding the GIL: where the CPU goes, not who waits for it.
        self.out = out
        self.proc = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", str(rate),
             "--duration", str(int(duration_s)), "--format", "raw", "--output", str(out), *(["--gil"] if gil else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def wait(self) -> None:
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(10)


def summarize_collapsed(path: Path, top: int = 25, skip_idle: bool = True) -> str:
    """Top functions by inclusive and by self share of samples, from py-spy's collapsed ("raw") output."""
    inclusive: dict[str, int] = {}
    self_time: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        frames = stack.split(";")
        if skip_idle and any(
            idle in frames[-1]
            for idle in (
                "select (selectors.py",
                "wait (threading.py",
                "poll (selectors.py",
                "_worker (concurrent",
                "accept (socket.py",
                "sleep (",
            )
        ):
            continue
        count = int(count_s)
        total += count
        seen = set()
        for frame in frames[1:]:  # the first frame is the process/thread
            name = re.sub(r":\d+\)$", ")", frame)
            if name not in seen:
                inclusive[name] = inclusive.get(name, 0) + count
                seen.add(name)
        leaf = re.sub(r":\d+\)$", ")", frames[-1])
        self_time[leaf] = self_time.get(leaf, 0) + count
    lines = [f"{total} busy samples"]
    lines.append("inclusive:")
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / max(1, total):5.1f}%  {name}")
    lines.append("self:")
    for name, count in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / max(1, total):5.1f}%  {name}")
    return "\n".join(lines)
