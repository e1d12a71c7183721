"""Fixtures that run the real platform for integration tests.

One session-wide stack (Kafka, PostgreSQL, Redis) on free ports with its own
data directory, so a developer's running stack and the tests never collide.
chDB allows one data path per process, so the whole session shares one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from access import keys
from app.node import Node
from app.stack import Stack
from app.stack.base import find_free_port
from collector.app import create_app as create_collector
from lookout.settings import Settings
from lookout.topics import ensure_topics
from warehouse.migrate import migrate


@pytest.fixture(scope="session")
def test_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="lookout-test-"))
    home.chmod(0o755)  # the postgres OS user must traverse it
    yield home
    if not os.environ.get("LOOKOUT_KEEP_TEST_HOME"):
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(test_home: Path) -> Iterator[Stack]:
    s = Stack.for_tests(test_home / "stack")
    s.up(timeout=120)
    yield s
    s.down()


@pytest.fixture(scope="session")
def settings(stack: Stack, test_home: Path) -> Settings:
    base = Settings.from_env(
        {
            "LOOKOUT_HOME": str(test_home),
            "LOOKOUT_CLICKHOUSE_DSN": f"chdb:///{test_home / 'chdb'}",
            "LOOKOUT_COLLECTOR_PORT": str(find_free_port()),
            "LOOKOUT_DASHBOARD_PORT": str(find_free_port()),
            "LOOKOUT_BATCH_MAX_WAIT_S": "0.2",
            "LOOKOUT_ROLLUP_INTERVAL_S": "1",
            "LOOKOUT_PRODUCE_TIMEOUT_S": "3",
            "LOOKOUT_LOG_JSON": "false",
            # alert notifications: a test SMTP server (tests/integration/test_alerts.py) and quick retries
            "LOOKOUT_SMTP_PORT": str(find_free_port()),
            "LOOKOUT_SMTP_SECURITY": "none",
            "LOOKOUT_ALERT_SEND_TIMEOUT_S": "2",
            "LOOKOUT_ALERT_RETRY_BASE_S": "0.5",
            "LOOKOUT_ALERT_RETRY_MAX_S": "2",
        }
    )
    configured = stack.apply_to(base)
    migrate(configured)
    ensure_topics(configured)
    return configured


@pytest.fixture(scope="session")
def ingest_key(settings: Settings) -> str:
    return keys.create_key(settings, "test-ingest", list(keys.KINDS), None, actor="tests").secret


@pytest.fixture(scope="session")
def query_key(settings: Settings) -> str:
    return keys.create_key(settings, "test-query", [keys.QUERY_SCOPE], None, actor="tests").secret


def serve(app: Any, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def collector_url(settings: Settings) -> Iterator[str]:
    server = serve(create_collector(settings), settings.collector_port)
    yield f"http://127.0.0.1:{settings.collector_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def node(settings: Settings) -> Iterator[Node]:
    n = Node(settings)
    n.start()
    yield n
    n.stop()


@pytest.fixture(scope="session")
def dashboards_url(node: Node, settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.dashboard_port}"


def run_cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None, text: bool = True
) -> subprocess.CompletedProcess:
    """Run `lookout ARGS` as a user would, against the test stack's settings."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **settings.as_env(), **(env or {})},
        input=stdin,
        capture_output=True,
        text=text,
        timeout=120,
    )


def eventually(check: Callable[[], Any], timeout_s: float = 20.0, interval_s: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s; last value: {last!r}")
