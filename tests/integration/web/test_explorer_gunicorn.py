"""The live tail under gunicorn (dashboards/gunicorn_conf.py, gthread), as in the scaled mode: events are streamed
as they are read, not buffered until the response ends, and the stream ends on its idle timeout.

chDB opens a data directory in one process only, so this gunicorn (one worker) gets its own engine, filled before
it starts; new arrivals during the stream are tested under waitress (test_explorer_api.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.stack.base import find_free_port
from lookout.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import eventually
from tests.integration.web.conftest import Person, sign_in
from tests.integration.web.test_explorer_api import Stream

pytestmark = pytest.mark.integration

_FILL = """
import sys, time
from warehouse import clickhouse
from warehouse.migrate import migrate_clickhouse
dsn = sys.argv[1]
migrate_clickhouse(dsn)
client = clickhouse.connect(dsn)
client.command(
    "INSERT INTO logs (event_id, timestamp, service, level, message, retention_days) "
    "SELECT generateUUIDv4(), now64(3) - toIntervalSecond(number), 'gunicorn-tail', 'info', "
    "concat('line ', toString(number)), 30 FROM numbers(3)"
)
client.close()
"""


@pytest.fixture(scope="module")
def gunicorn_url(web_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dashboards-gunicorn")
    dsn = f"chdb:///{home / 'chdb'}"
    port = find_free_port()
    env = {
        **os.environ,
        **web_settings.with_(clickhouse_dsn=dsn, dashboard_port=port, tail_idle_timeout_s=2.0).as_env(),
    }
    subprocess.run([sys.executable, "-c", _FILL, dsn], cwd=PROJECT_ROOT, env=env, check=True, timeout=300)
    log_path: Path = home / "gunicorn.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "dashboards" / "gunicorn_conf.py"),
             "--workers", "1", "--threads", "4", "dashboards.wsgi:app"],
            env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, f"gunicorn exited: {log_path.read_text()[-2000:]}"
            try:
                return requests.get(f"{url}/healthz", timeout=5).status_code == 200
            except requests.RequestException:  # not listening yet, or too busy starting to answer
                return False

        eventually(ready, 60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_the_tail_streams_under_gunicorn_and_ends_when_idle(gunicorn_url: str, viewer: Person) -> None:
    session = sign_in(gunicorn_url, viewer)
    opened = time.monotonic()
    response = session.get(f"{gunicorn_url}/api/v1/explore/tail/stream", params={"q": "service:gunicorn-tail"},
                           stream=True, timeout=(5, 30))  # fmt: skip
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    stream = Stream(response)
    name, data = stream.next_event()
    first = time.monotonic() - opened
    assert name == "rows" and [r["message"] for r in data["rows"]] == ["line 2", "line 1", "line 0"]
    name, data = stream.next_event()
    ended = time.monotonic() - opened
    assert name == "end" and "no new event for 2 s" in data["message"]
    # The rows came as they were read, seconds before the response ended: nothing buffered them.
    assert ended >= 2.0 and ended - first >= 1.5, (first, ended)
    response.close()
