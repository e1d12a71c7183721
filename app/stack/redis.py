"""A throwaway Redis for development: no persistence, bound to 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from app.stack.base import LOCALHOST, Service, StackError


class RedisService(Service):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.address}/0"

    def start(self) -> None:
        self.check_ports()
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(server).is_file():
            raise StackError("redis-server not found: install Debian's redis-server package")
        # Lookout keeps only caches and rate-limit counters in Redis, so nothing is
        # saved; --dir still matters because it becomes the server's cwd, which is
        # how the stack recognises its own process.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._launch(
            [
                server,
                "--bind", LOCALHOST,
                "--port", str(self.port),
                "--dir", str(self.data_dir),
                "--daemonize", "no",
                "--save", "",
                "--appendonly", "no",
            ]
        )  # fmt: skip

    def _ready(self) -> bool:
        try:
            with socket.create_connection((LOCALHOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
