"""The collector as deployed: under gunicorn, spoken to by clients that do not read before they write.

The other collector tests use Werkzeug's server; framing (chunked bodies, what happens to a body the
app did not read, when a connection closes) belongs to the server, so it is tested here under gunicorn.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from app.stack.base import find_free_port
from lookout.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.integration


class Gunicorn:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.port = settings.collector_port
        env = {
            **os.environ,
            **settings.as_env(),
            # One worker with few threads is enough and keeps the machine free for other tests.
            "LOOKOUT_COLLECTOR_WORKERS": "1",
            "LOOKOUT_COLLECTOR_THREADS": "4",
        }
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "collector" / "gunicorn_conf.py"),
                 "collector.wsgi:app"],
                env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.log_path = log_path

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited: {self.log_path.read_text()[-2000:]}"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the collector was not ready within {timeout_s}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def gunicorn_port(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = Gunicorn(settings.with_(collector_port=find_free_port()), tmp_path_factory.mktemp("gunicorn") / "log")
    try:
        server.wait_ready()
        yield server.port
    finally:
        server.stop()


def _event(message: str = "hello") -> dict[str, object]:
    return {"kind": "log", "timestamp": int(time.time() * 1000), "service": "gunicorn-tests", "level": "info",
            "message": message}


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def test_a_body_over_the_limit_is_answered_413_to_a_client_that_writes_it_all_first(gunicorn_port, ingest_key,
                                                                                    settings):
    # http.client sends the whole body before it reads a byte of the answer, as urllib (and the shipper) do.
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_port, timeout=30)
    big = b"[" + b" " * (settings.max_body_bytes + 3 * 1024 * 1024) + b"]"
    conn.request("POST", "/v1/events", body=big, headers=_headers(ingest_key))
    response = conn.getresponse()
    assert response.status == 413
    assert "limit" in orjson.loads(response.read())["error"]
    # The body was read to its end, so the connection is still in step and serves the next request.
    conn.request("POST", "/v1/events", body=orjson.dumps([_event()]), headers=_headers(ingest_key))
    response = conn.getresponse()
    assert response.status == 202
    assert orjson.loads(response.read())["accepted"] == 1


def test_a_chunked_body_over_the_limit_is_answered_413(gunicorn_port, ingest_key, settings):
    chunk = b" " * (1024 * 1024)
    chunks = [b"["] + [chunk] * (settings.max_body_bytes // len(chunk) + 25) + [b"]"]
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_port, timeout=30)
    conn.request("POST", "/v1/events", body=iter(chunks), headers=_headers(ingest_key), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    assert "limit" in orjson.loads(response.read())["error"]


def test_a_wrong_key_with_a_large_body_gets_its_401(gunicorn_port, settings):
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_port, timeout=30)
    conn.request("POST", "/v1/events", body=b"[" + b" " * (20 * 1024 * 1024) + b"]", headers=_headers("lk_wrong"))
    response = conn.getresponse()
    assert response.status == 401
    assert "API key" in orjson.loads(response.read())["error"]


def _raw_exchange(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        head, _, body = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            data = sock.recv(65536)
            if not data:
                break
            body += data
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("chunk_size", [b"zz", b"-1", b"1;\x00"])
def test_a_chunked_body_with_an_invalid_chunk_size_is_400(gunicorn_port, ingest_key, chunk_size):
    request = (
        b"POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + ingest_key.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunk_size + b"\r\n[]\r\n0\r\n\r\n"
    )
    status, body = _raw_exchange(gunicorn_port, request)
    assert status == 400, body
    assert "body" in orjson.loads(body)["error"]


def test_a_client_that_stalls_mid_body_still_gets_its_answer(gunicorn_port):
    # The discard of a refused body must not wait forever for bytes that never come.
    with socket.create_connection(("127.0.0.1", gunicorn_port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer lk_wrong\r\nContent-Length: 1000000\r\n\r\n[" + b" " * 1000
        )
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 401"), head
