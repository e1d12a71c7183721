"""lookout_client against a real HTTP server on 127.0.0.1 that answers from a script."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgiref.util import setup_testing_defaults

import pytest
from lookout_client import Client, ClientStats, LookoutHandler, WsgiMetricsMiddleware
from lookout_client._batcher import backoff_delay
from lookout_client.handler import _TEXT_FIELDS, _VALUE_FIELDS

from lookout.contract import columns_for, validate_event

ROOT = Path(__file__).resolve().parents[2]


# --- a scriptable collector ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 202
    retry_after: str | None = None
    reject: tuple[int, ...] = ()  # indexes a 202 reports as rejected


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    path: str
    headers: dict[str, str]
    raw: bytes
    events: list[dict[str, Any]]
    reply: Reply


class FakeCollector:
    """POST /v1/events on a real socket: replies from ``script`` first, then ``default``; records everything.

    ``max_events`` makes it answer 413 to larger batches; ``api_key`` makes it answer 401 to any other
    key. ``stop()`` closes the listening socket and every open connection, so the client sees a collector
    that is really down; ``start()`` brings it back on the same port.
    """

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.max_events: int | None = None
        self.api_key: str | None = None
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.drop_connections()

    def drop_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def accepted_events(self) -> list[dict[str, Any]]:
        with self._lock:
            requests = list(self.requests)
        return [
            event
            for request in requests
            if request.reply.status == 202
            for index, event in enumerate(request.events)
            if index not in request.reply.reject
        ]

    def wait_for(self, condition: Callable[[], object], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return bool(condition())

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        body = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
        events = json.loads(body)
        with self._lock:
            if self.api_key is not None and headers.get("Authorization") != f"Bearer {self.api_key}":
                reply = Reply(401)
            elif self.script:
                reply = self.script.popleft()
            elif self.max_events is not None and len(events) > self.max_events:
                reply = Reply(413)
            else:
                reply = self.default
            self.requests.append(Received(time.monotonic(), path, headers, raw, events, reply))
        return reply


def _handler_for(collector: FakeCollector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real collector behind gunicorn offers

        def setup(self) -> None:
            super().setup()
            collector._track(self.connection)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            reply = collector._answer(self.path, dict(self.headers), raw)
            if reply.status == 202:
                count = len(json.loads(gzip.decompress(raw)))
                body: dict[str, Any] = {
                    "accepted": count - len(reply.reject),
                    "rejected": len(reply.reject),
                    "errors": [{"index": index, "error": "level: required"} for index in reply.reject],
                }
            else:
                body = {"error": f"scripted {reply.status}", "request_id": "r-1"}
            data = json.dumps(body).encode()
            self.send_response(reply.status)
            if reply.retry_after is not None:
                self.send_header("Retry-After", reply.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return  # keep the test output clean

    return Handler


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    server = FakeCollector()
    yield server
    server.stop()


@pytest.fixture
def make_client(collector: FakeCollector) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        endpoint = options.pop("endpoint", collector.url)
        api_key = options.pop("api_key", "test-key")
        settings: dict[str, Any] = {"flush_interval": 0.05, "timeout": 2.0, "backoff_base": 0.01, "backoff_cap": 0.05}
        client = Client(endpoint, api_key, "checkout", "web-1", **{**settings, **options})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=1.0)


def log(message: str, level: str = "info", **fields: Any) -> dict[str, Any]:
    return {"kind": "log", "level": level, "message": message, **fields}


def logs(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [log(f"m{i}") for i in range(start, start + count)]


def messages(events: Iterable[dict[str, Any]]) -> list[str]:
    return [event["message"] for event in events]


def assert_valid(events: Iterable[dict[str, Any]]) -> None:
    """What the client builds must pass the collector's own validation, or it would be rejected there."""
    for event in events:
        validate_event(event, now_ms=int(time.time() * 1000))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- batching -----------------------------------------------------------------------------------------


def test_a_full_batch_leaves_without_waiting_for_the_interval(collector: FakeCollector, make_client) -> None:
    client = make_client(batch_size=5, flush_interval=30)
    client.send_many(logs(12))
    assert collector.wait_for(lambda: len(collector.requests) == 2)
    time.sleep(0.2)
    assert [len(request.events) for request in collector.requests] == [5, 5]  # the last 2 wait for the interval
    assert client.close()
    assert [len(request.events) for request in collector.requests] == [5, 5, 2]
    assert messages(collector.accepted_events()) == [f"m{i}" for i in range(12)]


def test_a_partial_batch_leaves_after_the_flush_interval(collector: FakeCollector, make_client) -> None:
    make_client(batch_size=100, flush_interval=0.3).send_many(logs(3))
    started = time.monotonic()
    assert collector.wait_for(lambda: collector.requests)
    assert 0.25 <= collector.requests[0].at - started < 2.0
    assert len(collector.requests[0].events) == 3


def test_an_error_log_goes_out_at_once_with_what_was_queued_before_it(collector: FakeCollector, make_client) -> None:
    client = make_client(batch_size=100, flush_interval=30)
    client.send(log("before"))
    time.sleep(0.1)
    assert collector.requests == []
    client.send(log("boom", level="error"))
    assert collector.wait_for(lambda: collector.requests, timeout=1.0)
    assert messages(collector.requests[0].events) == ["before", "boom"]


def test_batches_are_gzipped_json_arrays_carrying_the_api_key(collector: FakeCollector, make_client) -> None:
    client = make_client(endpoint=collector.url + "/")
    client.send(log("hello"))
    assert client.flush()
    [request] = collector.requests
    assert request.path == "/v1/events"
    assert request.raw[:2] == b"\x1f\x8b"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer test-key"
    assert messages(request.events) == ["hello"]


def test_the_client_fills_in_the_envelope_without_changing_the_callers_event(
    collector: FakeCollector, make_client
) -> None:
    client = make_client()
    mine = log("defaults")
    own_id = str(uuid.uuid4())
    client.send(mine)
    client.send(log("given", event_id=own_id, service="billing", timestamp="2024-01-01T00:00:00Z"))
    client.send(log("datetime", timestamp=datetime(2024, 1, 1, tzinfo=UTC)))
    assert client.flush()
    defaults, given, from_datetime = collector.accepted_events()
    assert mine == log("defaults")
    assert uuid.UUID(defaults["event_id"]).version == 4
    assert (defaults["service"], defaults["instance"]) == ("checkout", "web-1")
    assert abs(defaults["timestamp"] - time.time() * 1000) < 10_000
    assert (given["event_id"], given["service"], given["timestamp"]) == (own_id, "billing", "2024-01-01T00:00:00Z")
    assert from_datetime["timestamp"] == 1_704_067_200_000


def test_odd_values_are_encoded_and_unencodable_events_dropped_without_raising(
    collector: FakeCollector, make_client
) -> None:
    errors: list[Exception] = []
    client = make_client(on_error=errors.append)
    order = uuid.uuid4()
    client.send(log("odd", metadata={"at": datetime(2024, 1, 2, 3, 4, 5), "order": order, "tags": {"a"}}))
    client.send(log("nan", metadata={"ratio": float("nan")}))  # NaN is not JSON: the collector would 400 the batch
    client.send("not an event")  # type: ignore[arg-type]
    assert client.flush()
    [event] = collector.accepted_events()
    assert event["metadata"] == {"at": "2024-01-02T03:04:05", "order": str(order), "tags": ["a"]}
    assert client.stats == ClientStats(sent=1, dropped=2)
    assert len(errors) == 1


def test_the_service_and_endpoint_are_checked_when_the_client_is_made() -> None:
    with pytest.raises(ValueError, match="service"):
        Client("http://127.0.0.1:1", "key", "has spaces")
    with pytest.raises(ValueError, match="endpoint"):
        Client("127.0.0.1:8080", "key", "checkout")


# --- retries and refusals -----------------------------------------------------------------------------


def test_backoff_is_capped_full_jitter_with_retry_after_as_the_floor() -> None:
    delays = [backoff_delay(3, 0.1, 10.0, None) for _ in range(200)]
    assert all(0.0 <= delay <= 0.8 for delay in delays) and max(delays) > 0.4
    assert all(backoff_delay(60, 0.1, 2.0, None) <= 2.0 for _ in range(50))
    assert all(backoff_delay(0, 0.1, 10.0, 3.0) == 3.0 for _ in range(50))


def test_503_is_retried_with_backoff_and_the_same_event_ids(collector: FakeCollector, make_client) -> None:
    collector.script.extend([Reply(503), Reply(503)])
    client = make_client(backoff_base=0.05, backoff_cap=0.2)
    client.send_many(logs(3))
    assert client.flush()
    assert [request.reply.status for request in collector.requests] == [503, 503, 202]
    ids = [[event["event_id"] for event in request.events] for request in collector.requests]
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 3
    assert all(later.at - earlier.at < 0.5 for earlier, later in pairwise(collector.requests))
    assert client.stats == ClientStats(sent=3, retries=2)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_the_minimum_wait(collector: FakeCollector, make_client, status: int) -> None:
    # The client reads delay-seconds as a number, so a fraction keeps this test fast.
    collector.script.append(Reply(status, retry_after="0.4"))
    client = make_client(backoff_base=0.001, backoff_cap=0.001)
    client.send(log("m"))
    assert client.flush()
    first, second = collector.requests
    assert second.at - first.at >= 0.39
    assert client.stats == ClientStats(sent=1, retries=1)


def test_a_kept_alive_connection_closed_by_the_server_is_reopened_without_a_retry(
    collector: FakeCollector, make_client
) -> None:
    client = make_client()
    client.send(log("first"))
    assert client.flush()
    collector.drop_connections()
    client.send(log("second"))
    assert client.flush()
    assert messages(collector.accepted_events()) == ["first", "second"]
    assert client.stats == ClientStats(sent=2)


def test_413_halves_the_batch_until_it_fits(collector: FakeCollector, make_client) -> None:
    collector.max_events = 2
    client = make_client(batch_size=5)
    client.send_many(logs(5))
    assert client.flush()
    sizes = [(len(request.events), request.reply.status) for request in collector.requests]
    assert sizes == [(5, 413), (2, 202), (3, 413), (1, 202), (2, 202)]
    assert messages(collector.accepted_events()) == [f"m{i}" for i in range(5)]
    assert client.stats == ClientStats(sent=5)


def test_a_single_event_too_large_for_the_collector_is_rejected(collector: FakeCollector, make_client) -> None:
    collector.max_events = 0
    client = make_client()
    client.send(log("huge"))
    assert client.flush()
    assert len(collector.requests) == 1
    assert client.stats == ClientStats(rejected=1)


def test_401_keeps_the_events_and_retries_them_with_backoff_reporting_once(
    collector: FakeCollector, make_client
) -> None:
    collector.script.extend([Reply(401)] * 3)
    errors: list[Exception] = []
    client = make_client(on_error=errors.append)
    client.send_many(logs(2))
    assert client.flush()
    statuses = [request.reply.status for request in collector.requests]
    assert statuses == [401, 401, 401, 202]
    first_ids = [event["event_id"] for event in collector.requests[0].events]
    assert all([event["event_id"] for event in request.events] == first_ids for request in collector.requests)
    assert messages(collector.accepted_events()) == ["m0", "m1"]
    assert client.stats == ClientStats(sent=2, retries=3)
    assert len(errors) == 1 and "API key" in str(errors[0]) and "kept" in str(errors[0])
    # The key worked again, so the next refusal is a new problem, reported again.
    collector.script.append(Reply(401))
    client.send(log("m2"))
    assert client.flush()
    assert len(errors) == 2


def test_a_wrong_key_spools_and_a_restart_with_the_right_key_delivers_everything_once(
    collector: FakeCollector, make_client, tmp_path: Path
) -> None:
    collector.api_key = "right-key"
    spool = tmp_path / "spool"
    errors: list[Exception] = []
    wrong = make_client(spool_path=spool, batch_size=4, retries_before_spool=1, on_error=errors.append)
    wrong.send_many(logs(10))
    assert wrong.flush()  # settled: on disk once the retries were spent
    assert wrong.close()
    assert wrong.stats == ClientStats(spooled=10, retries=wrong.stats.retries)
    assert len(errors) == 1 and "401" in str(errors[0])
    assert collector.accepted_events() == []

    right = make_client(api_key="right-key", spool_path=spool)  # the restart with the fixed key
    assert collector.wait_for(lambda: right.stats.replayed == 10)
    right.send(log("m10"))
    assert right.flush()
    events = collector.accepted_events()
    assert messages(events) == [f"m{i}" for i in range(11)]
    assert len({event["event_id"] for event in events}) == 11
    assert spool.stat().st_size < 100  # drained: only the header is left


def test_without_on_error_a_problem_is_logged_once_as_a_warning(
    collector: FakeCollector, make_client, caplog: pytest.LogCaptureFixture
) -> None:
    collector.script.extend([Reply(401)] * 5)
    client = make_client()
    with caplog.at_level(logging.WARNING, logger="lookout_client"):
        client.send_many(logs(3))
        assert client.flush()
    warnings = [record for record in caplog.records if record.name == "lookout_client"]
    assert len(warnings) == 1 and "API key" in warnings[0].getMessage()
    assert client.stats.sent == 3


def test_events_the_collector_rejects_are_counted_and_never_retried(collector: FakeCollector, make_client) -> None:
    collector.script.append(Reply(202, reject=(1,)))
    errors: list[Exception] = []
    client = make_client(on_error=errors.append)
    client.send_many(logs(3))
    assert client.flush()
    time.sleep(0.1)
    assert len(collector.requests) == 1
    assert client.stats == ClientStats(sent=2, rejected=1)
    assert "rejected 1 of 3" in str(errors[0])


@pytest.mark.parametrize("status", [400, 415])
def test_a_body_the_collector_refuses_is_not_retried(collector: FakeCollector, make_client, status: int) -> None:
    collector.script.append(Reply(status))
    client = make_client()
    client.send_many(logs(2))
    assert client.flush()
    time.sleep(0.1)
    assert len(collector.requests) == 1
    assert client.stats == ClientStats(rejected=2)


# --- queue, spool, shutdown -----------------------------------------------------------------------------


@pytest.mark.parametrize("spooled", [False, True], ids=["memory", "spool"])
def test_sending_never_blocks_even_when_the_collector_is_dead(make_client, tmp_path: Path, spooled: bool) -> None:
    spool_path = tmp_path / "spool" if spooled else None
    client = make_client(endpoint=f"http://127.0.0.1:{free_port()}", max_queue=1_000, spool_path=spool_path)
    started = time.perf_counter()
    for i in range(100_000):
        client.send(log(f"m{i}"))
    assert time.perf_counter() - started < 2.0
    if not spooled:
        assert client.stats.dropped > 0  # memory is bounded; with a spool, disk may keep up with the flood
    assert client.close(timeout=0.5) is spooled  # without a spool what is still queued at the deadline is lost
    stats = client.stats
    assert stats.sent == 0 and stats.spooled + stats.dropped == 100_000
    assert (stats.spooled > 0) == spooled


def test_an_outage_is_spooled_and_replayed_once_in_order(collector: FakeCollector, make_client, tmp_path: Path) -> None:
    collector.stop()
    spool = tmp_path / "spool"
    client = make_client(batch_size=4, spool_path=spool, retries_before_spool=1)
    client.send_many(logs(10))
    assert client.flush()  # settled: on disk
    client.send(log("m10"))  # queued behind the spool, not ahead of it
    assert client.flush()
    assert client.stats.spooled == 11
    collector.start()
    assert collector.wait_for(lambda: client.stats.replayed == 11)
    time.sleep(0.2)
    events = collector.accepted_events()
    assert messages(events) == [f"m{i}" for i in range(11)]
    assert len({event["event_id"] for event in events}) == 11
    assert client.stats == ClientStats(sent=11, spooled=11, replayed=11, retries=client.stats.retries)
    assert spool.stat().st_size < 100  # drained: only the header is left


def test_the_spool_is_bounded(collector: FakeCollector, make_client, tmp_path: Path) -> None:
    collector.stop()
    spool = tmp_path / "spool"
    client = make_client(batch_size=10, spool_path=spool, max_spool_bytes=4096, retries_before_spool=0)
    client.send_many(logs(100))
    assert client.flush()
    stats = client.stats
    assert 0 < stats.spooled < 100 and stats.spooled + stats.dropped == 100
    assert spool.stat().st_size <= 4096


_CRASHING_APP = """
import os, sys
from lookout_client import Client
client = Client(sys.argv[1], "test-key", "checkout", spool_path=sys.argv[2], retries_before_spool=0,
                backoff_base=0.01, backoff_cap=0.01)
client.send_many({"kind": "log", "level": "info", "message": f"m{i}"} for i in range(5))
assert client.flush(10)
os._exit(0)  # a crash: no close(), no exit-time flush
"""


def test_the_spool_survives_a_crash_and_the_next_process_replays_it(
    collector: FakeCollector, make_client, tmp_path: Path
) -> None:
    collector.stop()
    spool = tmp_path / "spool"
    subprocess.run([sys.executable, "-c", _CRASHING_APP, collector.url, str(spool)], check=True, timeout=30, cwd=ROOT)
    collector.start()
    client = make_client(spool_path=spool)
    assert collector.wait_for(lambda: client.stats.replayed == 5)
    assert messages(collector.accepted_events()) == [f"m{i}" for i in range(5)]


def test_a_torn_last_line_in_the_spool_is_cut_off(collector: FakeCollector, make_client, tmp_path: Path) -> None:
    collector.stop()
    spool = tmp_path / "spool"
    first = make_client(spool_path=spool, retries_before_spool=0)
    first.send_many(logs(3))
    assert first.close()
    assert first.stats.spooled == 3
    with spool.open("ab") as file:
        file.write(b'[{"kind":"log","level":"info","message":"torn')  # a crash in the middle of an append
    collector.start()
    second = make_client(spool_path=spool)
    second.send(log("m3"))
    assert collector.wait_for(lambda: len(collector.accepted_events()) == 4)
    time.sleep(0.1)
    assert messages(collector.accepted_events()) == ["m0", "m1", "m2", "m3"]


def test_a_spool_file_is_never_shared_or_overwritten(collector: FakeCollector, make_client, tmp_path: Path) -> None:
    errors: list[Exception] = []
    make_client(spool_path=tmp_path / "spool")
    make_client(spool_path=tmp_path / "spool", on_error=errors.append)
    not_a_spool = tmp_path / "notes.txt"
    not_a_spool.write_text("keep me\n")
    client = make_client(spool_path=not_a_spool, on_error=errors.append)
    assert ["another client" in str(errors[0]), "not a Lookout spool" in str(errors[1])] == [True, True]
    assert not_a_spool.read_text() == "keep me\n"
    client.send(log("still delivered"))  # without a spool, but working
    assert client.flush()
    assert messages(collector.accepted_events()) == ["still delivered"]


def test_close_delivers_what_is_queued_and_later_sends_are_dropped(collector: FakeCollector, make_client) -> None:
    client = make_client(flush_interval=30)
    client.send_many(logs(3))
    assert client.close()
    assert messages(collector.accepted_events()) == ["m0", "m1", "m2"]
    client.send(log("late"))
    assert client.stats == ClientStats(sent=3, dropped=1)


_EXITING_APP = """
import sys
from lookout_client import Client
client = Client(sys.argv[1], "test-key", "checkout", flush_interval=60)
client.send({"kind": "log", "level": "info", "message": "bye"})
"""


def test_what_is_queued_at_interpreter_exit_is_flushed(collector: FakeCollector) -> None:
    subprocess.run([sys.executable, "-c", _EXITING_APP, collector.url], check=True, timeout=30, cwd=ROOT)
    assert messages(collector.accepted_events()) == ["bye"]


# --- LookoutHandler -------------------------------------------------------------------------------------


@pytest.fixture
def app_logger(make_client) -> Iterator[tuple[logging.Logger, Client]]:
    client = make_client()
    logger = logging.getLogger(f"app.{uuid.uuid4().hex[:8]}")
    handler = LookoutHandler(client)
    logger.addHandler(handler)
    logger.setLevel(1)
    logger.propagate = False
    yield logger, client
    logger.removeHandler(handler)


def test_handler_maps_python_levels_onto_the_contracts(collector: FakeCollector, app_logger) -> None:
    logger, client = app_logger
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG, 5):
        logger.log(level, "at %d", level)
    assert client.flush()
    events = collector.accepted_events()
    assert [event["level"] for event in events] == ["error", "error", "warn", "info", "debug", "trace"]
    assert_valid(events)
    assert messages(events) == ["at 50", "at 40", "at 30", "at 20", "at 10", "at 5"]


def test_handler_captures_the_exception(collector: FakeCollector, app_logger) -> None:
    logger, client = app_logger
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("charge %s failed", "ch_1")
    assert client.flush()
    [event] = collector.accepted_events()
    assert (event["level"], event["message"]) == ("error", "charge ch_1 failed")
    assert event["error_message"] == "ValueError: boom"
    assert event["error_stack"].startswith("Traceback") and 'raise ValueError("boom")' in event["error_stack"]
    assert_valid([event])


def test_handler_lifts_contract_fields_from_extra_and_keeps_the_rest_in_metadata(
    collector: FakeCollector, app_logger
) -> None:
    logger, client = app_logger
    extra = {"request_id": "req-1", "correlation_id": "cor-1", "user_id": 42, "session_id": "s-1"}
    logger.info("paid", extra={**extra, "endpoint": "/pay", "method": "POST", "status_code": 201, "cart_items": 3})
    assert client.flush()
    [event] = collector.accepted_events()
    lifted = {name: event[name] for name in (*extra, "endpoint", "method", "status_code")}
    assert lifted == {**extra, "user_id": "42", "endpoint": "/pay", "method": "POST", "status_code": 201}
    metadata = event["metadata"]
    assert (metadata["logger"], metadata["module"], metadata["function"]) == (
        logger.name,
        "test_client",
        "test_handler_lifts_contract_fields_from_extra_and_keeps_the_rest_in_metadata",
    )
    assert isinstance(metadata["line"], int) and metadata["thread"] == threading.current_thread().name
    assert metadata["cart_items"] == 3 and "request_id" not in metadata
    assert abs(event["timestamp"] - time.time() * 1000) < 10_000
    assert_valid([event])


def test_handler_lifts_exactly_the_contracts_log_columns() -> None:
    filled_by_the_handler = {"level", "message", "error_message", "error_stack", "metadata"}
    assert _TEXT_FIELDS | _VALUE_FIELDS == set(columns_for("log")) - filled_by_the_handler


def test_handler_keeps_long_texts_within_the_contracts_limit(collector: FakeCollector, app_logger) -> None:
    logger, client = app_logger
    logger.warning("x" * 70_000)
    assert client.flush()
    [event] = collector.accepted_events()
    assert len(event["message"]) == 64 * 1024 and event["message"].endswith("\u2026")
    assert_valid([event])


def test_handler_never_ships_the_clients_own_logging(collector: FakeCollector, make_client) -> None:
    collector.script.append(Reply(401))
    seen: list[Exception] = []

    def on_error(error: Exception) -> None:
        seen.append(error)
        logging.getLogger("app.callback").error("delivery failed: %s", error)  # runs on the client's thread

    client = make_client(on_error=on_error)
    root = logging.getLogger()
    handler = LookoutHandler(client)
    root.addHandler(handler)
    try:
        logging.getLogger("app").error("first")
        assert collector.wait_for(lambda: seen)
        logging.getLogger("lookout_client").warning("the client's own warning")
        logging.getLogger("app").error("second")
        assert client.flush()
    finally:
        root.removeHandler(handler)
    shipped = [event["message"] for request in collector.requests for event in request.events]
    assert shipped == ["first", "first", "second"]  # "first" again after the 401, and never the client's own logs
    assert client.stats == ClientStats(sent=2, retries=1)


# --- WsgiMetricsMiddleware ------------------------------------------------------------------------------


class Responder:
    """A server's start_response, recording what the application asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []
        self.written: list[bytes] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        self.calls.append((status, headers))
        return self.written.append


def wsgi_environ(path: str = "/items/42", method: str = "POST", body: bytes = b"payload") -> WSGIEnvironment:
    environ: WSGIEnvironment = {}
    setup_testing_defaults(environ)
    environ.update(PATH_INFO=path, REQUEST_METHOD=method, CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


def test_middleware_reports_one_api_metric_per_request_when_the_body_is_closed(
    collector: FakeCollector, make_client
) -> None:
    def streaming(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["lookout.route"] = "/items/<id>"
        start_response("201 Created", [("Content-Type", "text/plain")])
        yield b"ab"
        time.sleep(0.03)
        yield b"cde"

    client = make_client()
    responder = Responder()
    result = WsgiMetricsMiddleware(streaming, client)(wsgi_environ(), responder)
    assert list(result) == [b"ab", b"cde"]
    time.sleep(0.03)
    assert client.flush() and collector.accepted_events() == []  # the response is not over yet
    result.close()  # type: ignore[attr-defined]
    assert client.flush()
    [metric] = collector.accepted_events()
    assert responder.calls == [("201 Created", [("Content-Type", "text/plain")])]
    assert {key: metric[key] for key in ("kind", "endpoint", "method", "status_code")} == {
        "kind": "api_metric",
        "endpoint": "/items/<id>",
        "method": "POST",
        "status_code": 201,
    }
    assert (metric["request_size_bytes"], metric["response_size_bytes"]) == (7, 5)
    assert 60 <= metric["response_time_ms"] < 2_000
    assert_valid([metric])


def test_middleware_counts_write_calls_keeps_sized_bodies_sized_and_closes_the_body(
    collector: FakeCollector, make_client
) -> None:
    closed: list[bool] = []

    class Body(list):
        def close(self) -> None:
            closed.append(True)

    def legacy(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [])
        write(b"1234")
        return Body([b"56"])

    client = make_client()
    responder = Responder()
    result = WsgiMetricsMiddleware(legacy, client)(wsgi_environ("/legacy", "GET", b""), responder)
    assert len(result) == 1  # type: ignore[arg-type]
    assert list(result) == [b"56"]
    result.close()  # type: ignore[attr-defined]
    assert client.flush()
    [metric] = collector.accepted_events()
    assert (metric["endpoint"], metric["method"], metric["status_code"]) == ("/legacy", "GET", 200)
    assert (metric["request_size_bytes"], metric["response_size_bytes"]) == (0, 6)
    assert responder.written == [b"1234"] and closed == [True]


def test_middleware_reports_a_failing_app_as_500_and_lets_the_error_through(
    collector: FakeCollector, make_client
) -> None:
    def broken(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise RuntimeError("database down")

    client = make_client()
    with pytest.raises(RuntimeError, match="database down"):
        WsgiMetricsMiddleware(broken, client)(wsgi_environ(), Responder())
    assert client.flush()
    [metric] = collector.accepted_events()
    assert (metric["status_code"], metric["error_type"]) == (500, "RuntimeError")
    assert_valid([metric])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def _serve_once(app: WSGIApplication) -> tuple[int, list[tuple[str, str]], bytes]:
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        connection.request("GET", "/hello")
        response = connection.getresponse()
        body = response.read()
        connection.close()
    finally:
        thread.join(5)
        server.server_close()
    return response.status, [(name, value) for name, value in response.getheaders() if name != "Date"], body


def test_middleware_leaves_the_response_unchanged_on_a_real_server(collector: FakeCollector, make_client) -> None:
    def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Trace", "t-1")])
        return [b"hello world"]

    client = make_client()
    assert _serve_once(WsgiMetricsMiddleware(hello, client)) == _serve_once(hello)
    assert client.flush()
    [metric] = collector.accepted_events()
    assert (metric["endpoint"], metric["response_size_bytes"]) == ("/hello", 11)
