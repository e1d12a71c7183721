"""The syslog TCP listener: framed messages -> field mapping -> the collector's intake -> Kafka.

One thread per connection, at most ``syslog_max_connections`` (one over the limit is closed at once, with
a warning, and the sender reconnects later); a connection silent for ``syslog_idle_timeout_s`` is closed.
The messages of one read are handled as one batch, so a busy sender's events share Kafka records as an
HTTP batch does, and go through the same steps as ``POST /v1/json`` (collector.intake.admit): key check,
validation, rate limit, produce and wait for the broker's acknowledgement.

Syslog over TCP has no answer to the sender, so refusals are the receiver's to report: an unframeable or
unparsable message, an event refused by validation, and a message without a valid key are dropped,
counted in ``lookout_collector_events_rejected_total`` and logged with the peer and the reason; the other
messages of the read are kept. When the rate limit or Kafka refuses a batch, the connection stops
reading and retries the same batch after the advertised delay: TCP pushes back on the sender, which
buffers (as syslog daemons do), and nothing accepted is lost.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Sequence

from access.auth import Principal
from collector import prometheus
from collector.errors import ApiError
from collector.field_mapping import map_native
from collector.intake import Origin, admit, check_key
from collector.services import CollectorServices
from collector.syslog.framing import Deframer, FrameError
from collector.syslog.message import KEY_SD_ID, SyslogError, parse
from lookout.settings import Settings

log = logging.getLogger("lookout.collector.syslog")

ROUTE = "syslog/tcp"
# Messages without an APP-NAME or tag (a bare RFC 3164 line) need some service: this one.
FALLBACK_SERVICE = "syslog"
_READ_BYTES = 256 * 1024
_HANDSHAKE_TIMEOUT_S = 10.0
_MAX_RETRY_WAIT_S = 10.0
_LOGGED_REASONS = 3


def bind(settings: Settings) -> socket.socket:
    """The listening socket; bound before any worker starts, so a taken port fails at once."""
    return socket.create_server((settings.syslog_host, settings.syslog_port), backlog=128)


class SyslogListener:
    """Serves ``server`` (bound here when not given): :meth:`serve_forever` until :meth:`stop`.

    Several processes may serve one socket (``lookout syslog`` forks ``LOOKOUT_SYSLOG_WORKERS`` of them,
    as gunicorn's workers share the collector's): the kernel hands each connection to one of them, so
    the listener uses as many cores as it has workers.
    """

    def __init__(self, settings: Settings, services: CollectorServices | None = None,
                 server: socket.socket | None = None) -> None:
        self.settings = settings
        self._own_services = services is None  # built here, so closed here
        self.services = services or CollectorServices.from_settings(settings)
        self._tls: ssl.SSLContext | None = None
        if settings.syslog_tls_cert:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self._tls.load_cert_chain(settings.syslog_tls_cert, settings.syslog_tls_key)
        self._server = server if server is not None else bind(settings)
        self.port: int = self._server.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def serve_forever(self) -> None:
        log.info("syslog listener on %s:%d (%s)", self.settings.syslog_host, self.port,
                 "TLS" if self._tls else "plain TCP")
        # Non-blocking accept in every worker: the one the kernel wakes may find the connection taken.
        self._server.settimeout(0.5)  # also to notice stop() without a connection arriving
        while not self._stopping.is_set():
            try:
                conn, peer = self._server.accept()
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            with self._lock:
                full = len(self._connections) >= self.settings.syslog_max_connections
                if not full:
                    self._connections.add(conn)
            if full:
                log.warning("syslog: refused a connection from %s: %d connections already open",
                            _address(peer), self.settings.syslog_max_connections)
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, peer), name="syslog-connection", daemon=True).start()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="syslog-listener", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopping.set()
        self._server.close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._own_services:
            self.services.producer.close()

    def _serve(self, conn: socket.socket, peer: object) -> None:
        address = _address(peer)
        stream: socket.socket = conn
        try:
            if self._tls is not None:
                conn.settimeout(_HANDSHAKE_TIMEOUT_S)
                stream = self._tls.wrap_socket(conn, server_side=True)
            stream.settimeout(self.settings.syslog_idle_timeout_s)
            deframer = Deframer(self.settings.syslog_max_message_bytes)
            while not self._stopping.is_set():
                try:
                    data = stream.recv(_READ_BYTES)
                except TimeoutError:
                    log.info("syslog: closing %s, silent for %gs", address, self.settings.syslog_idle_timeout_s)
                    return
                if not data:
                    self.handle(deframer.close(), address)
                    return
                self.handle(deframer.feed(data), address)
        except (ssl.SSLError, OSError) as exc:
            if not self._stopping.is_set():
                log.warning("syslog: connection from %s ended: %s", address, exc)
        finally:
            with self._lock:
                self._connections.discard(conn)
            stream.close()

    def handle(self, frames: Sequence[bytes | FrameError], address: str) -> None:
        """Parse, authenticate and admit the messages of one read; refusals are counted and logged."""
        if not frames:
            return
        received_ms = int(time.time() * 1000)
        refused: list[str] = []
        unreadable = 0
        by_key: dict[str, list[dict[str, object]]] = {}
        listener_key = self.settings.syslog_key
        for frame in frames:
            if type(frame) is FrameError:
                unreadable += 1
                refused.append(frame.reason)
                continue
            try:
                document, key = parse(frame.decode("utf-8", "replace"), received_ms=received_ms)
            except SyslogError as exc:
                unreadable += 1
                refused.append(str(exc))
                continue
            key = key or listener_key
            if not key:
                _count_refused("unauthorized", 1)
                refused.append(f'no API key: add [{KEY_SD_ID} key="..."] to the message or set LOOKOUT_SYSLOG_KEY')
                continue
            documents = by_key.get(key)
            if documents is None:
                by_key[key] = [document]
            else:
                documents.append(document)
        _count_refused("invalid", unreadable)
        for key, documents in by_key.items():
            principal = self._principal(key, len(documents), refused)
            if principal is None:
                continue
            items = [
                map_native(document, default_kind=principal.default_kind, received_ms=received_ms,
                           fallback_service=FALLBACK_SERVICE)
                for document in documents
            ]
            self._admit(items, principal, address, refused)
        if refused:
            log.warning("syslog: refused %d message(s) from %s: %s", len(refused), address,
                        "; ".join(refused[:_LOGGED_REASONS]))

    def _principal(self, key: str, count: int, refused: list[str]) -> Principal | None:
        while True:
            try:
                return check_key(key, self.services.authenticator)
            except ApiError as exc:
                if exc.status == 503 and self._wait(exc):
                    continue
                _count_refused("unauthorized", count)
                refused.extend([exc.message] * count)
                return None

    def _admit(self, items: list[object], principal: Principal, address: str, refused: list[str]) -> None:
        origin = Origin(address, ROUTE)
        while True:
            try:
                result = admit(items, principal, self.settings, self.services, origin).result
            except ApiError as exc:
                if exc.status in (429, 503) and self._wait(exc):
                    continue
                refused.extend([exc.message] * len(items))
                return
            refused.extend(f"message {error['index'] + 1} of the batch: {error['error']}" for error in result.errors)
            return

    def _wait(self, exc: ApiError) -> bool:
        """Sleep the advertised delay before a retry; False when the listener is stopping."""
        try:
            delay = float(exc.headers.get("Retry-After", "1"))
        except ValueError:
            delay = 1.0
        return not self._stopping.wait(min(max(delay, 0.1), _MAX_RETRY_WAIT_S))


def _count_refused(reason: str, count: int) -> None:
    if count:
        prometheus.EVENTS_REJECTED.labels(reason).inc(count)


def _address(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
