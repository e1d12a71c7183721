"""Clients that send their body slowly, or stop mid-body, against the collector under gunicorn.

Issue 14, finding 2: connections that sent their headers and then trickled or stalled the body held
every gunicorn thread, and no normal request was answered while they were connected. The collector
now serves each connection in a greenlet (gevent worker) and ends a body that is not received within
``LOOKOUT_COLLECTOR_BODY_TIMEOUT_S`` with a 408.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Iterator

import orjson
import pytest

from app.stack.base import find_free_port
from lookout.settings import Settings
from tests.integration.test_collector_gunicorn import Gunicorn, _event, _headers

pytestmark = pytest.mark.integration

# More stalled senders than the gthread worker these tests run had threads (1 worker x 4 threads).
STALLED_SENDERS = 24


def _server(settings: Settings, tmp_path_factory: pytest.TempPathFactory, body_timeout_s: float) -> Iterator[int]:
    server = Gunicorn(
        settings.with_(collector_port=find_free_port(), collector_body_timeout_s=body_timeout_s),
        tmp_path_factory.mktemp("gunicorn-slow") / "log",
    )
    try:
        server.wait_ready()
        yield server.port
    finally:
        server.stop()


@pytest.fixture(scope="module")
def patient_port(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    # A deadline far beyond the test: the slow senders stay connected while the normal request is made.
    yield from _server(settings, tmp_path_factory, body_timeout_s=600)


@pytest.fixture(scope="module")
def strict_port(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from _server(settings, tmp_path_factory, body_timeout_s=2)


def _start_body(port: int, key: str, declared: int = 100_000) -> socket.socket:
    """A connection that sent a request head and the first byte of a body of ``declared`` bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: " + str(declared).encode() + b"\r\n\r\n["
    )
    return sock


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(65536)
        assert data, f"the connection closed without an answer: {received!r}"
        received += data
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        data = sock.recv(65536)
        assert data, "the connection closed mid-answer"
        body += data
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


def test_a_normal_request_is_answered_while_slow_senders_hold_connections(patient_port, ingest_key):
    stalled = [_start_body(patient_port, ingest_key) for _ in range(STALLED_SENDERS)]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", patient_port, timeout=60)
        conn.request("POST", "/v1/events", body=orjson.dumps([_event("beside slow senders")]),
                     headers=_headers(ingest_key))
        response = conn.getresponse()
        assert response.status == 202
        assert orjson.loads(response.read())["accepted"] == 1
        # They were still connected and unanswered all along: they did hold their connections.
        readable, _, _ = select.select(stalled, [], [], 0)
        assert readable == []
    finally:
        for sock in stalled:
            sock.close()


def test_a_sender_that_stalls_mid_body_gets_408_after_the_body_deadline(strict_port, ingest_key):
    with _start_body(strict_port, ingest_key) as sock:
        status, body = _read_answer(sock)
    assert status == 408
    assert "not received within 2 s" in str(body["error"])


def test_a_sender_that_trickles_its_body_gets_408_after_the_body_deadline(strict_port, ingest_key):
    # A byte every 0.2 s never leaves the socket idle: only a deadline for the whole body ends it.
    answered = threading.Event()
    with _start_body(strict_port, ingest_key) as sock:

        def trickle() -> None:
            while not answered.wait(0.2):
                try:
                    sock.send(b" ")
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            status, body = _read_answer(sock)
        finally:
            answered.set()
            sender.join(5)
    assert status == 408
    assert "not received within 2 s" in str(body["error"])


def test_a_body_sent_in_time_is_accepted_by_the_strict_server(strict_port, ingest_key):
    # The deadline cuts off only what is late: a normal request on the same server is unaffected.
    conn = http.client.HTTPConnection("127.0.0.1", strict_port, timeout=30)
    conn.request("POST", "/v1/events", body=orjson.dumps([_event("on time")]), headers=_headers(ingest_key))
    response = conn.getresponse()
    assert response.status == 202
    assert orjson.loads(response.read())["accepted"] == 1
