"""Abuse benchmark: normal ingest latency while slow clients hold connections, and the collector's memory
after large bodies and gzip bombs.

    .venv/bin/python -m bench.abuse                    # both tests, defaults (~6 minutes per variant)
    .venv/bin/python -m bench.abuse slow --connections 200 --duration 20
    .venv/bin/python -m bench.abuse memory --rounds 2 --large 20 --bombs 10 --idle 30
    .venv/bin/python -m bench.abuse slow --variant gthread:LOOKOUT_COLLECTOR_WORKER_CLASS=gthread \\
        --variant gevent:LOOKOUT_COLLECTOR_WORKER_CLASS=gevent

**slow**: ``--connections`` sockets (default 500) each send a request head declaring a 1 MB body and
then one body byte every ``--byte-interval`` seconds; a connection the server answers or closes (a 408
after the body deadline) is replaced, so that many stay open all along. Meanwhile a normal client sends
small batches (10 log events) on an open loop (``--rate`` requests/s from a pool of keep-alive
connections, latency counted from when each request was due, bench.ingest.open_loop) and reports p50/p99
and non-202 answers before, during and after the slow connections. Goal: p99 < 200 ms during.

**memory**: rounds of ``--large`` valid bodies just under the body limit (events of ~2.5 KB, accepted and
produced to Kafka) and ``--bombs`` gzip bombs (a small gzip body inflating to ``--bomb-mib``, refused
413), sent ``--concurrency`` at a time; then ``--idle`` seconds without requests. It samples the RSS of
the collector's processes (gunicorn master + workers, from /proc) and prints the curve, with the peak
(sampled every second) of the total and of the largest process. Goal: total RSS back under 400 MB within a
minute after the last round. A 503 with Retry-After (the worker's budget of body bytes in flight is full,
LOOKOUT_COLLECTOR_BODY_BYTES_IN_FLIGHT) is retried after that delay, as a client should, and counted.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import selectors
import socket
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from bench.common import BenchEnv, Collector, bench_env, log_event, machine_info, print_machine, progress
from bench.ingest import Window, open_loop, parse_variant

RSS_GOAL_MB = 400
P99_GOAL_MS = 200
_SLOW_BODY_BYTES = 1_000_000


# --------------------------------------------------------------------------- slow connections


@dataclass
class SlowStats:
    opened: int = 0
    failed_connects: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # first status line word, or "closed"


class SlowClients:
    """Holds ``count`` connections that trickle a body one byte per interval, on one thread."""

    def __init__(self, port: int, key: str, count: int, byte_interval_s: float) -> None:
        self.port = port
        self.count = count
        self.interval = byte_interval_s
        self.head = (
            f"POST /v1/events HTTP/1.1\r\nHost: collector\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {_SLOW_BODY_BYTES}\r\n\r\n["
        ).encode()
        self.stats = SlowStats()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, ramp_s: float) -> None:
        """Opens the connections spread over ``ramp_s``, so their deadlines do not all fall at once."""
        for _ in range(self.count):
            self._open()
            time.sleep(ramp_s / self.count)
        self._thread.start()

    @property
    def open_now(self) -> int:
        return len(self._selector.get_map())

    def _open(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(self.head)
        except OSError:
            self.stats.failed_connects += 1
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self.stats.opened += 1

    def _close(self, sock: socket.socket, answer: str) -> None:
        self._selector.unregister(sock)
        sock.close()
        self.stats.answers[answer] = self.stats.answers.get(answer, 0) + 1

    def _run(self) -> None:
        next_byte = time.monotonic() + self.interval
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=max(0.0, next_byte - time.monotonic())):
                sock = key.fileobj
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                self._close(sock, data.split(b" ", 2)[1].decode(errors="replace") if data.count(b" ") >= 2
                            else "closed")
            if time.monotonic() >= next_byte:
                next_byte += self.interval
                for key in list(self._selector.get_map().values()):
                    try:
                        key.fileobj.send(b" ")
                    except OSError:
                        self._close(key.fileobj, "closed")
                while self.open_now < self.count and not self._stop.is_set():
                    before = self.stats.failed_connects
                    self._open()
                    if self.stats.failed_connects > before:
                        break

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()


@dataclass
class SlowResult:
    variant: str
    connections: int
    phases: dict[str, dict[str, object]]
    slow: dict[str, object]
    loadavg_1m: float


def _phase(window: Window, rate: float) -> dict[str, object]:
    return {
        "requests": len(window.samples),
        "rate": rate,
        "p50_ms": round(window.latency_ms(50), 1),
        "p99_ms": round(window.latency_ms(99), 1),
        "max_ms": round(window.latency_ms(100), 1),
        "non_202": window.failures(),
    }


def small_bodies(count: int = 16) -> list[bytes]:
    rng = random.Random(3)
    now = int(time.time() * 1000)
    return [gzip.compress(orjson.dumps([log_event(rng, now) for _ in range(10)])) for _ in range(count)]


def slow_test(env: BenchEnv, collector: Collector, label: str, args: argparse.Namespace) -> SlowResult:
    bodies = small_bodies()

    def measure(name: str) -> dict[str, object]:
        window = open_loop(collector.port, env.ingest_key, bodies, args.rate, args.pool, 1.0, args.duration,
                           args.request_timeout)
        phase = _phase(window, args.rate)
        progress(f"    {name}: {phase}")
        return phase

    phases = {"before": measure("before")}
    slow = SlowClients(collector.port, env.ingest_key, args.connections, args.byte_interval)
    progress(f"  opening {args.connections} slow connections ...")
    slow.start(args.ramp)
    try:
        progress(f"    {slow.open_now} open")
        phases["during"] = measure("during")
        progress(f"    slow connections: {asdict(slow.stats)}, {slow.open_now} open at the end")
    finally:
        slow.stop()
    phases["after"] = measure("after")
    return SlowResult(label, args.connections, phases, asdict(slow.stats), os.getloadavg()[0])


# --------------------------------------------------------------------------- memory


def rss_mb(pids: list[int]) -> dict[int, float]:
    """VmRSS of each process in MB (processes that ended are left out)."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out


def large_body(limit: int, seed: int) -> bytes:
    """A valid batch just under ``limit`` bytes: log events of about 2.5 KB."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    events: list[dict[str, object]] = []
    size = 2
    while True:
        event = log_event(rng, now, message="x" * 2000 + str(rng.random()))
        encoded = len(orjson.dumps(event)) + 1
        if size + encoded > limit - 1024:
            return orjson.dumps(events)
        events.append(event)
        size += encoded


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body that inflates to ``inflated_mib`` MiB of a JSON array's whitespace."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [deflater.compress(b"[")]
    block = b" " * (1024 * 1024)
    parts.extend(deflater.compress(block) for _ in range(inflated_mib))
    parts.append(deflater.compress(b"]") + deflater.flush())
    return b"".join(parts)


_BUSY_RETRIES = 60


def _post(port: int, key: str, body: bytes, gzipped: bool) -> tuple[int, int]:
    """(final status, 503s retried before it)"""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    for retries in range(_BUSY_RETRIES + 1):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("POST", "/v1/events", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            retry_after = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            return 0, retries
        finally:
            conn.close()
        if response.status != 503 or retry_after is None or retries == _BUSY_RETRIES:
            return response.status, retries
        time.sleep(float(retry_after))
    raise AssertionError("unreachable")


@dataclass
class MemoryResult:
    variant: str
    curve: list[tuple[str, float, float, float]]  # (moment, seconds since start, total MB, largest worker MB)
    statuses: dict[str, int]
    settled_after_s: float | None  # seconds of idle until total RSS < goal (None: never within --idle)
    final_mb: float
    peak_mb: float
    peak_largest_mb: float  # the largest single process at any 1 s sample
    busy_retries: int  # 503s (body budget full) retried after their Retry-After
    loadavg_1m: float


def memory_test(env: BenchEnv, collector: Collector, label: str, args: argparse.Namespace) -> MemoryResult:
    limit = env.settings.max_body_bytes
    progress(f"  building {args.large} bodies under {limit:,} bytes and a gzip bomb of {args.bomb_mib} MiB ...")
    larges = [large_body(limit, seed) for seed in range(min(args.large, 8))]
    bomb = gzip_bomb(args.bomb_mib)
    progress(f"    large body {len(larges[0]):,} B, bomb {len(bomb):,} B gzipped")
    start = time.monotonic()
    curve: list[tuple[str, float, float, float]] = []
    peak = peak_largest = 0.0

    def sample(moment: str) -> float:
        nonlocal peak, peak_largest
        sizes = rss_mb(collector.pids())
        total, largest = sum(sizes.values()), max(sizes.values(), default=0.0)
        peak, peak_largest = max(peak, total), max(peak_largest, largest)
        curve.append((moment, round(time.monotonic() - start, 1), round(total, 1), round(largest, 1)))
        progress(f"    {moment}: {total:.0f} MB total, largest process {largest:.0f} MB ({len(sizes)} processes)")
        return total

    # A few normal requests first, so the baseline includes a warmed-up worker (producer connected).
    for body in small_bodies(4):
        _post(collector.port, env.ingest_key, body, gzipped=True)
    sample("start")
    statuses: dict[str, int] = {}
    busy_retries = 0
    jobs = [(larges[i % len(larges)], False) for i in range(args.large)] + [(bomb, True)] * args.bombs
    with ThreadPoolExecutor(args.concurrency) as pool:
        for round_no in range(1, args.rounds + 1):
            random.Random(round_no).shuffle(jobs)
            sampler_stop = threading.Event()

            def sample_during(stop: threading.Event = sampler_stop) -> None:
                while not stop.wait(1.0):
                    nonlocal peak, peak_largest
                    sizes = rss_mb(collector.pids())
                    peak = max(peak, sum(sizes.values()))
                    peak_largest = max(peak_largest, max(sizes.values(), default=0.0))

            sampler = threading.Thread(target=sample_during, daemon=True)
            sampler.start()
            for status, retries in pool.map(lambda job: _post(collector.port, env.ingest_key, job[0], job[1]), jobs):
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                busy_retries += retries
            sampler_stop.set()
            sampler.join()
            sample(f"after round {round_no}")
    idle_start = time.monotonic()
    settled: float | None = None
    while time.monotonic() - idle_start < args.idle:
        time.sleep(min(5.0, args.idle - (time.monotonic() - idle_start)))
        total = sample(f"idle {time.monotonic() - idle_start:.0f}s")
        if settled is None and total < RSS_GOAL_MB:
            settled = round(time.monotonic() - idle_start, 1)
    return MemoryResult(label, curve, statuses, settled, curve[-1][2], round(peak, 1), round(peak_largest, 1),
                        busy_retries, os.getloadavg()[0])


# --------------------------------------------------------------------------- reporting and main


def print_slow(results: list[SlowResult]) -> None:
    print("\n| variant | slow connections | phase | requests | p50 ms | p99 ms | max ms | non-202 | load 1m |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|")
    for r in results:
        for name, p in r.phases.items():
            print(f"| {r.variant} | {r.connections} | {name} | {p['requests']} | {p['p50_ms']} | {p['p99_ms']} | "
                  f"{p['max_ms']} | {p['non_202'] or '-'} | {r.loadavg_1m:.1f} |")
    for r in results:
        during = float(r.phases["during"]["p99_ms"])  # type: ignore[arg-type]
        verdict = "PASS" if during < P99_GOAL_MS and not r.phases["during"]["non_202"] else "FAIL"
        print(f"{r.variant}: p99 with {r.connections} slow connections {during} ms, goal < {P99_GOAL_MS} ms and "
              f"no failures: {verdict}; slow connections: {r.slow}")


def print_memory(results: list[MemoryResult]) -> None:
    for r in results:
        print(f"\n{r.variant}: RSS of the collector (master + workers), MB; answers {r.statuses}, "
              f"503s retried {r.busy_retries}")
        print("| moment | s | total MB | largest process MB |")
        print("|---|---:|---:|---:|")
        for moment, seconds, total, largest in r.curve:
            print(f"| {moment} | {seconds} | {total} | {largest} |")
        verdict = "PASS" if r.settled_after_s is not None and r.settled_after_s <= 60 else "FAIL"
        print(f"{r.variant}: peak {r.peak_mb} MB (largest process {r.peak_largest_mb} MB), final {r.final_mb} MB, "
              f"under {RSS_GOAL_MB} MB after "
              f"{r.settled_after_s} s of idle (goal: within 60 s): {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.abuse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tests", nargs="*", choices=("slow", "memory"), default=["slow", "memory"])
    parser.add_argument("--connections", type=int, default=500, help="slow connections held open (default 500)")
    parser.add_argument("--byte-interval", type=float, default=1.0, help="seconds between a slow client's bytes")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which they are opened (default 5)")
    parser.add_argument("--rate", type=float, default=20.0, help="normal requests/s of 10 events (default 20)")
    parser.add_argument("--pool", type=int, default=16, help="normal client connections (default 16)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per phase (default 30)")
    parser.add_argument("--request-timeout", type=float, default=10.0,
                        help="a normal request not answered within this counts as failed (status 0; default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="memory rounds (default 3)")
    parser.add_argument("--large", type=int, default=50, help="bodies just under the limit per round (default 50)")
    parser.add_argument("--bombs", type=int, default=20, help="gzip bombs per round (default 20)")
    parser.add_argument("--bomb-mib", type=int, default=1024, help="what a bomb inflates to, MiB (default 1024)")
    parser.add_argument("--concurrency", type=int, default=8, help="memory requests in flight (default 8)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds sampled after the rounds (default 60)")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="LABEL:KEY=VALUE[,KEY=VALUE]",
        help="extra environment for the collector; each variant gets a fresh collector (as in bench.ingest)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    args = parser.parse_args(argv)

    info = machine_info()
    print_machine(info)
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    slow_results: list[SlowResult] = []
    memory_results: list[MemoryResult] = []
    with bench_env({"LOOKOUT_LOG_LEVEL": "WARNING"}) as env:
        for label, overrides in variants:
            for test in args.tests:
                # A fresh collector per test, so memory starts from a clean process and slow clients leave nothing.
                progress(f"{test}: collector [{label}] {overrides or ''}")
                collector = Collector(env, overrides).start()
                try:
                    if test == "slow":
                        slow_results.append(slow_test(env, collector, label, args))
                    else:
                        memory_results.append(memory_test(env, collector, label, args))
                finally:
                    collector.stop()
    if slow_results:
        print_slow(slow_results)
    if memory_results:
        print_memory(memory_results)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "args": vars(args), "slow": [asdict(r) for r in slow_results],
                       "memory": [asdict(r) for r in memory_results]}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
