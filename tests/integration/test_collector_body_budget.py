"""The collector's budget of request-body bytes in flight per worker, under gunicorn (gevent worker).

One client holds most of a 1 MiB budget with a body it has not finished sending; a large body arriving
meanwhile waits LOOKOUT_COLLECTOR_BODY_QUEUE_S for room and is answered 503 with Retry-After (and so is a
small gzip body that inflates past the room left), while a small request still fits and is accepted.
Once the first body is complete everything is accepted again: refused requests released what they held.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from app.stack.base import find_free_port
from lookout.settings import Settings
from tests.integration.test_collector_gunicorn import Gunicorn, _event, _headers
from tests.integration.test_collector_slow_clients import _read_answer

pytestmark = pytest.mark.integration

BUDGET = 1024 * 1024
CHUNK = 64 * 1024  # what the collector reads, and counts, at a time (collector/intake.py)


@pytest.fixture(scope="module")
def port(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = Gunicorn(
        settings.with_(collector_port=find_free_port(), collector_body_bytes_in_flight=BUDGET,
                       collector_body_queue_s=0.3),
        tmp_path_factory.mktemp("gunicorn-budget") / "log",
    )
    try:
        server.wait_ready()
        yield server.port
    finally:
        server.stop()


def padded_batch(size: int) -> bytes:
    """A valid batch of one event, padded with whitespace to ``size`` bytes."""
    event = orjson.dumps(_event("budget"))
    return b"[" + event + b" " * (size - len(event) - 2) + b"]"


def post(port: int, key: str, body: bytes, gzipped: bool = False) -> tuple[int, str | None, dict]:
    """(status, Retry-After, JSON answer)"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {**_headers(key), **({"Content-Encoding": "gzip"} if gzipped else {})}
    conn.request("POST", "/v1/events", body=gzip.compress(body) if gzipped else body, headers=headers)
    response = conn.getresponse()
    answer = orjson.loads(response.read())
    conn.close()
    return response.status, response.getheader("Retry-After"), answer


def first_refusal(port: int, key: str, body: bytes, gzipped: bool = False) -> tuple[int, str | None, dict]:
    """Sends ``body`` until it is refused: the held body's first chunks reach the server in their own time."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = post(port, key, body, gzipped)
        if answer[0] != 202:
            return answer
    raise AssertionError("never refused while the budget was held")


def test_bodies_past_the_budget_wait_then_get_503_and_small_ones_still_pass(port, ingest_key):
    # 13 full chunks received and held (851,968 bytes); the 14th waits for the last byte, never sent yet.
    held = padded_batch(13 * CHUNK + 1000)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /v1/events HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + ingest_key.encode() + b"\r\nContent-Length: " + str(len(held)).encode()
        + b"\r\n\r\n" + held[:-1]
    )
    try:
        large = padded_batch(300_000)  # its 4th chunk no longer fits beside the held 13
        status, retry_after, answer = first_refusal(port, ingest_key, large)
        assert (status, retry_after) == (503, "1") and "bytes of request bodies" in answer["error"]
        # A few KB on the wire, 400 KB once inflated: the inflated bytes count too.
        assert first_refusal(port, ingest_key, padded_batch(400_000), gzipped=True)[:2] == (503, "1")
        assert post(port, ingest_key, orjson.dumps([_event("small")]))[0] == 202
    finally:
        sock.sendall(held[-1:])
        status, answer = _read_answer(sock)
        sock.close()
    assert (status, answer["accepted"]) == (202, 1)
    assert post(port, ingest_key, large)[0] == 202
    assert post(port, ingest_key, padded_batch(400_000), gzipped=True)[0] == 202
