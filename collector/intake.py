"""What every ingest request goes through around its parsing: the key, the body, then acceptance.

Each step returns what the next one needs or raises :class:`collector.errors.ApiError` with the answer
(401/403/503 for the key, 400/413 for the body, 429/503 for acceptance).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from flask import g, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected

from access import key_usage
from access.auth import ApiKeyAuthenticator, AuthUnavailable, Principal
from collector import packing, prometheus
from collector.body import inflate
from collector.errors import ApiError
from collector.producer import KafkaUnavailable
from collector.ratelimit import rate_limit_event
from collector.services import CollectorServices, body_budget, services, settings
from lookout.contract import KINDS
from lookout.settings import Settings

log = logging.getLogger("lookout.collector")

RETRY_AFTER_UNAVAILABLE_S = 5
RATE_LIMIT_REPORT_WINDOW_S = 60
_INGEST_SCOPES = frozenset(KINDS)
# Errors the WSGI server raises from the body stream when the client's framing is broken (a bad
# chunk size, a connection cut mid-body).
BODY_READ_ERRORS = (OSError, ParseException, ClientDisconnected)
# How much of a refused body is read and thrown away so the client, still sending, gets to read the
# answer (see discard_unread_body). Past either bound the connection is closed and the client may
# see a broken pipe, as with nginx's lingering_time.
DISCARD_MAX_BYTES = 64 * 1024 * 1024
DISCARD_MAX_S = 10.0
DISCARD_IDLE_S = 2.0  # a client silent for this long mid-body is not sending the rest
_DISCARD_CHUNK = 64 * 1024
# A body is read in pieces of this size, each counted against the worker's budget of body bytes as it
# arrives (collector/inflight.py).
_READ_CHUNK = 64 * 1024
RETRY_AFTER_BUSY_S = 1


@dataclass
class Accepted:
    result: packing.IngestResult
    rate_headers: dict[str, str] = field(default_factory=dict)


def authenticate() -> Principal:
    """The caller's principal, which may send at least one kind of event."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"})
    return principal_for(key.strip())


def principal_for(key: str) -> Principal:
    """The principal of a key however the route's protocol carried it; it may send some kind of event."""
    principal = check_key(key, services().authenticator)
    g.key_name = principal.name
    return principal


def check_key(key: str, authenticator: ApiKeyAuthenticator) -> Principal:
    """The principal of a key that may send some kind of event (no request needed: the syslog listener)."""
    try:
        principal = authenticator.authenticate(key)
    except AuthUnavailable:
        raise ApiError(
            503, "cannot verify API keys right now", {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)}
        ) from None
    if principal is None:
        raise ApiError(401, "invalid or revoked API key", {"WWW-Authenticate": "Bearer"})
    if not principal.scopes & _INGEST_SCOPES:
        scopes = ", ".join(f"'{scope}'" for scope in sorted(principal.scopes)) or "none"
        raise ApiError(
            403, f"this API key may not ingest events (its scopes: {scopes}); use a key with the ingest scope"
        )
    return principal


def read_body() -> bytes:
    """The raw body, at most ``max_body_bytes`` long, received within ``collector_body_timeout_s`` (else 408)."""
    config = settings()
    limit = config.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise ApiError(413, f"body of {declared} bytes is larger than the limit of {limit}")
    deadline = _BodyDeadline(request.environ.get("gunicorn.socket"), config.collector_body_timeout_s)
    parts: list[bytes] = []
    received = 0
    try:
        while received <= limit:
            chunk = request.stream.read(min(_READ_CHUNK, limit + 1 - received))
            if not chunk:
                break
            hold_body_bytes(len(chunk))
            parts.append(chunk)
            received += len(chunk)
    except BODY_READ_ERRORS as exc:
        if not deadline.expired:
            raise ApiError(400, f"could not read the request body: {exc or type(exc).__name__}") from None
    finally:
        deadline.cancel()
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    # Checked after a read that succeeded too: a body cut short at the deadline may read as a short one.
    if deadline.expired:
        raise ApiError(
            408,
            f"the request body was not received within {config.collector_body_timeout_s:g} s; "
            "send it faster or in smaller requests",
        )
    if len(data) > limit:
        raise ApiError(413, f"body is larger than the limit of {limit} bytes")
    return data


def hold_body_bytes(amount: int) -> None:
    """Count ``amount`` more bytes of this request's body against the worker's budget until the request
    ends (release_body_bytes, at teardown); 503 when no room comes within collector_body_queue_s."""
    config = settings()
    if not body_budget().hold(amount, config.collector_body_queue_s):
        raise ApiError(
            503,
            f"this collector is holding {config.collector_body_bytes_in_flight} bytes of request bodies already; "
            "retry shortly",
            {"Retry-After": str(RETRY_AFTER_BUSY_S)},
        )
    g.body_bytes_held = g.get("body_bytes_held", 0) + amount


def release_body_bytes() -> None:
    body_budget().release(g.pop("body_bytes_held", 0))


def inflated(data: bytes) -> bytes:
    """The body with its Content-Encoding removed, its decompressed size held like its received bytes."""
    return inflate(data, request.headers.get("Content-Encoding"), settings().max_body_bytes, hold_body_bytes)


class _BodyDeadline:
    """Ends the reading of a body at a deadline, however the client sends it.

    A socket timeout is not enough: gunicorn's body read returns only once it has every byte asked for, so
    a client trickling a byte a second never lets one receive time out. Shutting the socket's reading
    side ends a read at once (it sees the end of the stream) and gunicorn closes the connection after
    the answer. A timer is a greenlet under the gevent worker, a thread under gthread.
    """

    def __init__(self, sock: socket.socket | None, seconds: float) -> None:
        self.expired = False
        self._timer: threading.Timer | None = None
        if sock is not None:  # None outside gunicorn (Werkzeug's server in tests): no deadline
            self._timer = threading.Timer(seconds, self._expire, (sock,))
            self._timer.daemon = True
            self._timer.start()

    def _expire(self, sock: socket.socket) -> None:
        self.expired = True
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass  # the client is gone already

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def discard_unread_body() -> None:
    """Read and drop what the client is still sending of a body the answer did not need.

    A client that writes its whole body before reading (Python's http.client and urllib, hence the
    shipper) gets a broken pipe instead of the answer when the server closes with the body half sent,
    and the server closes a connection whose body was left unread. Reading the rest first, within
    bounds, is what nginx's lingering close does; a body declared larger than the bound is not read.
    """
    declared = request.content_length
    if declared is not None and declared > DISCARD_MAX_BYTES:
        return
    # Under gunicorn the socket is blocking without a timeout: bound every read, or a client that stops
    # sending would hold this thread for as long as it keeps the connection open.
    sock: socket.socket | None = request.environ.get("gunicorn.socket")
    prior_timeout = sock.gettimeout() if sock is not None else None
    deadline = time.monotonic() + DISCARD_MAX_S
    discarded = 0
    try:
        while discarded <= DISCARD_MAX_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if sock is not None:
                sock.settimeout(min(remaining, DISCARD_IDLE_S))
            chunk = request.stream.read(_DISCARD_CHUNK)
            if not chunk:
                return
            discarded += len(chunk)
    except BODY_READ_ERRORS:
        return  # broken framing or a silent client: the server closes the connection
    finally:
        if sock is not None:
            sock.settimeout(prior_timeout)


def authenticated_body() -> tuple[Principal, bytes]:
    # The key first: an unknown caller's body is not worth reading.
    principal = authenticate()
    return principal, read_body()


@dataclass(frozen=True)
class Origin:
    """Where a batch came from, for the log and the rate-limit security event."""

    address: str
    route: str
    request_id: str | None = None


def accept(items: Sequence[object], principal: Principal, *, keep_ids: bool = False) -> Accepted:
    """Validate, rate-limit and produce; the accepted events are durable in Kafka when this returns.

    ``keep_ids``: the result names each accepted item's event id (packing.IngestResult.event_ids).
    """
    origin = Origin(request.remote_addr or "", request.path, g.get("request_id"))
    return admit(items, principal, settings(), services(), origin, keep_ids=keep_ids)


def admit(
    items: Sequence[object], principal: Principal, config: Settings, svc: CollectorServices, origin: Origin,
    *, keep_ids: bool = False,
) -> Accepted:
    """:func:`accept` for callers outside a Flask request (the syslog listener), with their own services."""
    result = packing.build_records(
        items,
        now_ms=int(time.time() * 1000),
        may_send=principal.may_send,
        topic_for=config.topic,
        max_event_bytes=config.max_event_bytes,
        keep_ids=keep_ids,
    )
    for reason, count in result.rejected_by_reason.items():
        prometheus.EVENTS_REJECTED.labels(reason).inc(count)
    if not result.accepted:
        return Accepted(result)
    decision = svc.limiter.check(
        principal.key_id, principal.rate_limit_per_s or config.default_rate_limit_per_s, result.accepted
    )
    rate_headers = decision.headers() if decision is not None else {}
    if decision is not None and not decision.allowed:
        prometheus.EVENTS_REJECTED.labels("rate_limited").inc(result.accepted)
        _report_rate_limited(principal, decision.limit, config, svc, origin)
        raise ApiError(429, "rate limit exceeded for this API key", rate_headers)
    try:
        svc.producer.send_all(result.records)
    except KafkaUnavailable as exc:
        prometheus.PRODUCE_ERRORS.inc()
        prometheus.EVENTS_REJECTED.labels("unavailable").inc(result.accepted)
        log.warning("produce failed", extra={"request_id": origin.request_id, "error": str(exc)})
        raise ApiError(
            503,
            "event storage is unavailable; nothing from this request was accepted, retry later",
            {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)},
        ) from None
    for kind, count in result.accepted_by_kind.items():
        prometheus.EVENTS_ACCEPTED.labels(kind).inc(count)
    key_usage.record(svc.redis, principal.key_id, result.accepted, time.time())
    return Accepted(result, rate_headers)


def _report_rate_limited(
    principal: Principal, limit: int, config: Settings, svc: CollectorServices, origin: Origin
) -> None:
    """A security_event for a throttled key, at most once per window per key (best effort)."""
    try:
        if not svc.redis.set(
            f"lookout:ratelimit:reported:{principal.key_id}", 1, nx=True, ex=RATE_LIMIT_REPORT_WINDOW_S
        ):
            return
    except redis.RedisError:
        return
    event = rate_limit_event(principal, limit, origin.address, origin.route, int(time.time() * 1000))
    try:
        svc.producer.send_all(
            packing.build_records(
                [event],
                now_ms=event["timestamp"],
                may_send=lambda _kind: True,
                topic_for=config.topic,
                max_event_bytes=config.max_event_bytes,
            ).records
        )
    except KafkaUnavailable:
        log.warning("could not record a rate_limit_exceeded security event", extra={"key": principal.name})
