"""`lookout up`: the whole platform on one machine (the single-node mode of docs/architecture.md).

Order matters: the local stack, then migrations and topics, then first-run
credentials, then the collector (gunicorn, its own processes) and this
process as the node (pipeline + dashboards + scheduler), then demo traffic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from access import accounts, keys
from access.audit import Actor
from access.credentials import generate_password
from app.node import Node
from app.signals import StopSignals
from app.stack import Stack
from app.stack.base import log_excerpt, port_in_use, port_owner
from lookout.settings import PROJECT_ROOT, Settings
from lookout.topics import ensure_topics
from warehouse.migrate import migrate

Progress = Callable[[str], None]

ADMIN_EMAIL = "admin@lookout.local"


def credentials_path(settings: Settings) -> Path:
    return settings.home / "credentials.json"


def first_run_credentials(settings: Settings, progress: Progress) -> dict[str, str]:
    """On first run: an admin account and two keys (ingest-only, query-only), kept in a 0600 file.

    The plaintext secrets exist only in that file (the database has hashes), so
    the demo can keep shipping across restarts and the admin can log in.
    """
    path = credentials_path(settings)
    if path.exists():
        return json.loads(path.read_text())
    if any(account.email == ADMIN_EMAIL for account in accounts.list_all(settings)):
        raise SystemExit(
            f"lookout up: {ADMIN_EMAIL} exists but {path} is missing; create keys with `lookout keys create`"
        )
    password = generate_password()
    accounts.create(settings, ADMIN_EMAIL, password, "admin", Actor("lookout up"))
    ingest = keys.create_key(settings, "demo-ingest", list(keys.KINDS), None, actor="lookout up")
    query = keys.create_key(settings, "demo-query", [keys.QUERY_SCOPE], None, actor="lookout up")
    credentials = {
        "admin_email": ADMIN_EMAIL,
        "admin_password": password,
        "ingest_api_key": ingest.secret,
        "query_api_key": query.secret,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle, indent=2)
    progress(f"created the admin account and API keys (saved in {path}, mode 0600)")
    return credentials


def check_ports(settings: Settings) -> None:
    """Stop before starting anything if another process holds the collector's or the dashboards' port.

    An orphaned collector of an earlier `lookout up` is the usual culprit, so the holder is named.
    """
    for what, variable, host, port in (
        ("collector", "LOOKOUT_COLLECTOR_PORT", settings.collector_host, settings.collector_port),
        ("dashboards", "LOOKOUT_DASHBOARD_PORT", settings.dashboard_host, settings.dashboard_port),
        ("syslog listener", "LOOKOUT_SYSLOG_PORT", settings.syslog_host, settings.syslog_port),
    ):
        if port and port_in_use(port, host):
            owner = port_owner(port) or "a process this user cannot see"
            raise SystemExit(
                f"lookout up: the {what} port {host}:{port} is already in use by {owner}; stop it or set {variable}"
            )


class Collector:
    """The collector under gunicorn (or another of its processes: ``command``), in its own session, its
    output appended to ``<name>.log``.

    It is started through app/parent_death.py, so the kernel stops it when this process dies, however it
    dies. The parent-death signal follows the thread that forked, so create it from the main thread.
    """

    GUNICORN = ("-m", "gunicorn", "-c", str(PROJECT_ROOT / "collector" / "gunicorn_conf.py"), "collector.wsgi:app")

    def __init__(self, settings: Settings, name: str = "collector", command: tuple[str, ...] = GUNICORN) -> None:
        self.log_path = settings.home / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Where this run's output starts: an earlier run's error must not be given as this one's reason.
            self._log_start = log.tell()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.parent_death", str(os.getpid()), sys.executable, *command],
                env={**os.environ, **settings.as_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )

    def exit_reason(self) -> str | None:
        """None while it runs; else its exit code and the most telling line of its log."""
        if self.process.poll() is None:
            return None
        excerpt = log_excerpt(self.log_path, self._log_start)
        return f"exited with code {self.process.returncode}: {excerpt} (log: {self.log_path})"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def wait_http(url: str, timeout_s: float, what: str, exited: Callable[[], str | None] = lambda: None) -> None:
    """Wait until ``url`` answers; ``exited`` says why the server died, if it did, and ends the wait."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (reason := exited()) is not None:
            raise SystemExit(f"lookout up: {what} {reason}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"lookout up: {what} did not answer at {url} within {timeout_s:.0f}s")


def run(settings: Settings, *, demo: bool, start_stack: bool, demo_rate: float, progress: Progress = print) -> int:
    check_ports(settings)
    if start_stack:
        stack = Stack.from_settings(settings)
        for status in stack.up(progress=progress):
            progress(f"  {status.name:<9} {status.address}  (log: {status.log_file})")
    applied = migrate(settings, progress)
    progress(f"migrations: {len(applied)} applied" if applied else "migrations: up to date")
    created = ensure_topics(settings)
    if created:
        progress(f"kafka topics created: {', '.join(created)}")
    credentials = first_run_credentials(settings, progress)

    collector = Collector(settings)
    syslog: Collector | None = None
    collector_url = f"http://{settings.collector_host}:{settings.collector_port}"
    dashboards_url = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
    node = Node(settings)
    demo_traffic = None
    stop = StopSignals()
    try:
        wait_http(f"{collector_url}/healthz", 30, "the collector", collector.exit_reason)
        if settings.syslog_port:
            # A collector process of its own (`lookout syslog`), started once gunicorn has cleared the
            # Prometheus files they share.
            syslog = Collector(settings, "syslog", ("-m", "app.cli", "syslog"))
        node.start()
        wait_http(f"{dashboards_url}/healthz", 30, "the dashboards")
        if demo:
            from app.demo import DemoTraffic

            demo_traffic = DemoTraffic(collector_url, credentials["ingest_api_key"], rate=demo_rate)
            demo_traffic.start()
        progress(
            "\nLookout is up.\n"
            f"  collector   {collector_url}/v1/events   (OTLP: {collector_url}/v1/logs, /v1/metrics)\n"
            + (f"  syslog      tcp://{settings.syslog_host}:{settings.syslog_port}   (RFC 5424/3164)\n"
               if syslog else "")
            + f"  dashboards  {dashboards_url}\n"
            f"  admin       {credentials['admin_email']} / {credentials['admin_password']}\n"
            f"  ingest key  {credentials['ingest_api_key']}\n"
            f"  query key   {credentials['query_api_key']}\n"
            f"  try: curl -H 'Authorization: Bearer {credentials['query_api_key']}' \\\n"
            f"         '{dashboards_url}/api/v1/logs?limit=5'\n"
            + ("  demo traffic: on\n" if demo else "")
            + "Press Ctrl-C to stop (the local stack keeps running; `lookout stack down` stops it)."
        )
        while not stop.wait(1.0):
            for what, child in (("collector", collector), ("syslog listener", syslog)):
                if child is not None and (reason := child.exit_reason()) is not None:
                    progress(f"the {what} {reason}; stopping")
                    return 1
        return 0
    finally:
        progress("stopping...")
        if demo_traffic is not None:
            demo_traffic.stop()
        collector.stop()
        if syslog is not None:
            syslog.stop()
        node.stop()
