"""`lookout up`, the README's run command, as a user runs it: in a subprocess, against the test stack.

- `--demo` serves demo events within 10 s, and SIGTERM stops the collector too.
- SIGKILL (the OOM killer) takes the gunicorn collector down with it, and the next `lookout up` on the same
  data comes up and loses or duplicates no acknowledged event.
- A port held by another process is named, with that process, before anything starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from app.stack import Stack
from app.stack.base import find_free_port, pid_alive, port_in_use
from lookout.settings import Settings
from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration


class Up:
    """`lookout up --no-stack` in its own session, with its own home, databases, topics and ports."""

    def __init__(self, settings: Settings, stack: Stack, home: Path, output: Path) -> None:
        self.collector_port, self.dashboard_port = find_free_port(), find_free_port()
        self.syslog_port = find_free_port()
        self.home, self.output = home, output
        suffix = uuid.uuid4().hex[:6]
        self.env = {
            **os.environ,
            **settings.as_env(),
            "LOOKOUT_HOME": str(home),
            "LOOKOUT_POSTGRES_DSN": stack.postgres.ensure_database(f"up_{suffix}"),  # its own accounts and keys
            "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{home / 'chdb'}",  # its own engine: this process holds the session's
            "LOOKOUT_KAFKA_TOPIC_PREFIX": f"up{suffix}.",  # its own topics and consumer groups
            "LOOKOUT_COLLECTOR_PORT": str(self.collector_port),
            "LOOKOUT_DASHBOARD_PORT": str(self.dashboard_port),
            "LOOKOUT_SYSLOG_PORT": str(self.syslog_port),
            "LOOKOUT_COLLECTOR_WORKERS": "2",
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def collector_url(self) -> str:
        return f"http://127.0.0.1:{self.collector_port}"

    @property
    def dashboards_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with self.output.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "up", "--no-stack", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def wait_up(self, runs: int = 1) -> None:
        """Until the ``runs``-th "Lookout is up." is in the output (the output file collects every run)."""
        assert self.process is not None
        deadline = time.monotonic() + 120
        while self.output.read_bytes().count(b"Lookout is up.") < runs:
            assert self.process.poll() is None, self.output.read_text()
            assert time.monotonic() < deadline, self.output.read_text()
            time.sleep(0.2)

    def credentials(self) -> dict[str, str]:
        return json.loads((self.home / "credentials.json").read_text())

    def stop(self) -> int:
        """SIGTERM to the session, as Ctrl-C would; SIGKILL if it does not stop within a minute."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [p for p in found if pid_alive(p)]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_lookout_up_demo_serves_demo_logs_within_10_seconds(settings, stack, tmp_path):
    up = Up(settings, stack, tmp_path / "home", tmp_path / "up.log")
    up.start("--demo")
    try:
        up.wait_up()
        up_at = time.monotonic()
        credentials = up.credentials()
        assert oct((up.home / "credentials.json").stat().st_mode & 0o777) == "0o600"
        assert credentials["query_api_key"] in up.output.read_text()

        logs: list = []
        while time.monotonic() - up_at < 10 and not logs:
            r = requests.get(
                f"{up.dashboards_url}/api/v1/logs",
                headers={"Authorization": f"Bearer {credentials['query_api_key']}"},
                timeout=5,
            )
            assert r.status_code == 200, r.text
            logs = r.json()["logs"]
            time.sleep(0.25)
        assert logs, f"no demo logs within 10 s of start-up:\n{up.output.read_text()}"
        assert {row["service"] for row in logs} <= {"api-gateway", "payments", "auth", "chain-indexer"}
        # Under gunicorn the counters of every worker process are summed on /metrics.
        metrics = requests.get(f"{up.collector_url}/metrics", timeout=5).text
        assert 'lookout_collector_events_accepted_total{kind="log"}' in metrics
        ready = requests.get(f"{up.collector_url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        # The syslog listener runs beside the collector: a message with the key in its structured data lands.
        marker = uuid.uuid4().hex[:10]
        with socket.create_connection(("127.0.0.1", up.syslog_port), timeout=5) as sock:
            sock.sendall(f'<12>1 - up-host up-syslog - - [lookout@32473 key="{credentials["ingest_api_key"]}"] '
                         f"disk low {marker}\n".encode())
        (row,) = eventually(lambda: requests.get(
            f"{up.dashboards_url}/api/v1/logs", params={"q": marker},
            headers={"Authorization": f"Bearer {credentials['query_api_key']}"}, timeout=5).json()["logs"])
        assert (row["service"], row["instance"], row["level"]) == ("up-syslog", "up-host", "warn")
    finally:
        returncode = up.stop()
    assert returncode == 0, up.output.read_text()
    assert not port_in_use(up.syslog_port, "127.0.0.1")
    # SIGTERM stopped the gunicorn collector too: nothing listens on its port any more.
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{up.collector_url}/healthz", timeout=2)


class Sender:
    """An app server posting batches of 5 logs with known event ids, recording which were acknowledged (202)."""

    def __init__(self, up: Up, service: str) -> None:
        self._url = f"{up.collector_url}/v1/events"
        self._headers = {"Authorization": f"Bearer {up.credentials()['ingest_api_key']}"}
        self.service = service
        self.acked: list[str] = []
        self.attempted: set[str] = set()
        self.refused = 0  # requests that got no 202: connection refused or cut while lookout up was down
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = datetime.now(UTC).isoformat()
            batch = [
                {
                    "kind": "log",
                    "event_id": str(uuid.uuid4()),
                    "timestamp": now,
                    "service": self.service,
                    "level": "info",
                    "message": f"order {len(self.attempted) + i}",
                }
                for i in range(5)
            ]
            ids = [event["event_id"] for event in batch]
            self.attempted.update(ids)
            try:
                r = requests.post(self._url, json=batch, headers=self._headers, timeout=10)
            except requests.RequestException:
                self.refused += 1
                continue
            if r.status_code == 202 and r.json()["accepted"] == len(batch):
                self.acked.extend(ids)
            else:
                self.refused += 1


def test_sigkilled_lookout_up_leaves_no_collector_behind_and_restarts_losing_nothing(settings, stack, tmp_path):
    up = Up(settings, stack, tmp_path / "home", tmp_path / "up.log")
    first = up.start()
    sender: Sender | None = None
    gunicorn: list[int] = []
    try:
        up.wait_up()
        gunicorn = [pid for pid in descendants(first.pid) if "gunicorn" in command_line(pid)]
        assert len(gunicorn) == 3, gunicorn  # the arbiter and its two workers

        sender = Sender(up, f"sigkill-{uuid.uuid4().hex[:6]}")
        sender.start()
        eventually(lambda: len(sender.acked) >= 100, timeout_s=30)
        acked_before_kill = len(sender.acked)
        first.kill()  # SIGKILL to `lookout up` alone, as the OOM killer would: no handler of ours runs
        first.wait()

        # The kernel's parent-death signal stopped gunicorn: no orphan keeps the collector's port.
        eventually(lambda: not any(pid_alive(pid) for pid in gunicorn), timeout_s=30)
        assert not port_in_use(up.collector_port)
        eventually(lambda: sender.refused, timeout_s=10)  # the app server saw the collector go

        up.start()  # the same home, chDB and topics: the new node carries on from the committed offsets
        up.wait_up(runs=2)
        eventually(lambda: len(sender.acked) >= acked_before_kill + 100, timeout_s=30)
        sender.stop()
        query_key = up.credentials()["query_api_key"]

        def stored() -> list[str] | None:
            # Through the second node's API: only one process may open its chDB while it runs.
            r = requests.get(
                f"{up.dashboards_url}/api/v1/logs",
                params={"service": sender.service, "limit": 1000},
                headers={"Authorization": f"Bearer {query_key}"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            ids = [row["event_id"] for row in r.json()["logs"]]
            return ids if set(sender.acked) <= set(ids) else None

        ids = eventually(stored, timeout_s=60, interval_s=0.5)
    finally:
        if sender is not None:
            sender.stop()
        returncode = up.stop()
        for pid in filter(pid_alive, gunicorn):  # orphans, had the test failed, must not outlive it
            os.kill(pid, signal.SIGKILL)
    assert returncode == 0, up.output.read_text()
    assert len(ids) < 1000  # the page held every stored event of the service
    assert len(ids) == len(set(ids)), "an event is stored twice"
    assert set(ids) <= sender.attempted  # nothing stored that was never sent
    assert set(sender.acked) <= set(ids)  # every acknowledged event, before and after the kill, is there


def test_a_taken_port_is_named_with_its_holder_before_anything_starts(settings, stack, tmp_path):
    up = Up(settings, stack, tmp_path / "home", tmp_path / "up.log")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time; s = socket.create_server(('127.0.0.1', int(sys.argv[1])));"
            " print('listening', flush=True); time.sleep(120)",
            str(up.collector_port),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"listening\n"
        process = up.start()
        assert process.wait(60) != 0
    finally:
        holder.kill()
        holder.wait()
    output = up.output.read_text()
    assert f"the collector port 127.0.0.1:{up.collector_port} is already in use by " in output
    assert f"{sys.executable} -c import socket" in output and f"(pid {holder.pid})" in output  # command line, pid
    assert "Traceback" not in output
    assert not (up.home / "credentials.json").exists()  # it stopped before touching anything
