"""A real HTTP server that records what alert channels send it (tests of webhooks)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.stack.base import find_free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server that records every request; /fail/N answers 500 to the first N, /slow never in time."""

    port: int
    requests: list[Received] = field(default_factory=list)
    failures_left: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver(find_free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers), body, time.time()))
                failing = state.failures_left.get(self.path, 0)
                if failing:
                    state.failures_left[self.path] = failing - 1
            if self.path.startswith("/slow"):
                time.sleep(6)  # longer than the send timeout (2 s in the test settings)
            status = 500 if failing else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
