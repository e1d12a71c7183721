"""The node's waitress server keeps serving once the process holds more than 1,024 descriptors.

chDB keeps three /proc files open per engine thread, so the single-node process passes that count; waitress's
default select() then refuses every socket numbered above it and the dashboards stop answering."""

from __future__ import annotations

import os
import resource
import threading

import pytest
import requests

from app.node import waitress_server
from app.stack.base import find_free_port

pytestmark = pytest.mark.integration


def _hello(environ: dict, start_response) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_the_dashboards_server_answers_with_descriptors_past_1024():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    socket_map: dict = {}
    port = find_free_port()
    server = waitress_server(_hello, socket_map, "127.0.0.1", port, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert server.socket.fileno() > 1024  # the case select() cannot watch
        answer = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert (answer.status_code, answer.text) == (200, "hello")
    finally:
        server.task_dispatcher.shutdown(timeout=5)
        for channel in list(socket_map.values()):
            channel.handle_close()
        thread.join(5)
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
