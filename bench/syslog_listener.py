"""CPU per message of the syslog listener by number of connections, without Kafka or Redis.

    .venv/bin/python -m bench.syslog_listener [--connections 1,6] [--duration 6] [--repeat 3]

One listener runs in this process on a free port, with the key check, the rate limit and Kafka stubbed out
(bench.formats.stub_services), as one ``lookout syslog`` worker does with its own threads: one per connection.
A separate process sends the benchmark's octet-counted RFC 5424 stream (bench.formats.syslog_stream) back
to back over each connection. Prints the messages handled per second of wall time and the listener's CPU
per message (this process's CPU time over the messages it handled, so the senders' CPU is not in it).

What it shows: the cost a worker pays for serving several busy connections at once. bench.ingest measures
the listener end to end, with Kafka, beside the other routes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from bench.common import log_event
from bench.formats import stub_services, syslog_stream
from collector.heap import settle
from collector.syslog.framing import Deframer, FrameError
from collector.syslog.listener import SyslogListener
from lookout.settings import PROJECT_ROOT, Settings

# Run by the sender process: connections, each sending the streams in turn until the deadline.
_SENDER = """
import socket, sys, threading, time
port, connections, seconds, path = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
streams = open(path, "rb").read().split(b"\\0")
stop = time.time() + seconds
def send(offset):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        i = offset
        while time.time() < stop:
            sock.sendall(streams[i % len(streams)])
            i += 1
threads = [threading.Thread(target=send, args=(n,)) for n in range(connections)]
for t in threads: t.start()
for t in threads: t.join()
"""


class _CountingListener(SyslogListener):
    """The listener, counting the messages it handles."""

    handled = 0
    _count_lock = threading.Lock()

    def handle(self, frames: list[bytes | FrameError], address: str) -> None:  # type: ignore[override]
        with self._count_lock:
            _CountingListener.handled += len(frames)
        super().handle(frames, address)


def _measure(listener: _CountingListener, connections: int, seconds: float, streams_path: str) -> tuple[float, float]:
    """(messages per wall second, listener CPU microseconds per message) for one sending window."""
    before, cpu_before, started = listener.handled, time.process_time(), time.monotonic()
    subprocess.run([sys.executable, "-c", _SENDER, str(listener.port), str(connections), str(seconds),
                    streams_path], check=True, cwd=PROJECT_ROOT)
    # What the senders left in the sockets is still being read: wait until the count stops moving.
    while True:
        seen = listener.handled
        time.sleep(0.3)
        if listener.handled == seen:
            break
    handled = listener.handled - before
    return handled / (time.monotonic() - started), (time.process_time() - cpu_before) / handled * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,6", help="connection counts to compare (default 1,6)")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of sending per window (default 6)")
    parser.add_argument("--repeat", type=int, default=3, help="windows per connection count, interleaved (default 3)")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.connections.split(",") if c]
    except ValueError:
        parser.error(f"--connections: {args.connections!r} is not a comma-separated list of numbers")
    if not counts or min(counts) < 1 or args.repeat < 1 or args.duration <= 0:
        parser.error("--connections, --repeat and --duration must be positive")

    rng = random.Random(7)
    now_ms = int(time.time() * 1000)
    streams = [syslog_stream([log_event(rng, now_ms) for _ in range(1000)]) for _ in range(8)]
    with tempfile.NamedTemporaryFile(suffix=".syslog", delete=False) as out:
        out.write(b"\0".join(streams))  # the stream holds no NUL: octet counts and printable text
    streams_path = out.name
    services = stub_services()
    settings = Settings.from_env({"LOOKOUT_LOG_JSON": "false"}).with_(syslog_key="bench", syslog_port=0)
    listener = _CountingListener(settings, services)
    listener.start()
    listener.handle(Deframer(settings.syslog_max_message_bytes).feed(streams[0]), "warm-up")
    settle()  # as a `lookout syslog` worker does after fork
    results: dict[int, list[tuple[float, float]]] = {count: [] for count in counts}
    try:
        for window in range(args.repeat):
            for count in counts:
                rate, cpu = _measure(listener, count, args.duration, streams_path)
                results[count].append((rate, cpu))
                print(f"  window {window + 1}: {count} connection(s): {rate:,.0f} messages/s, {cpu:.1f} us CPU each",
                      file=sys.stderr)
    finally:
        listener.stop()
        os.unlink(streams_path)
    print("\n| connections | messages/s (median) | listener CPU per message, us (median) |")
    print("|---:|---:|---:|")
    for count, rows in results.items():
        rate, cpu = statistics.median(r for r, _ in rows), statistics.median(c for _, c in rows)
        print(f"| {count} | {rate:,.0f} | {cpu:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
