"""One POST of a batch to the collector, and what the answer means for that batch.

Each way a batch can fail has its own exception type, so the batcher decides
the batch's fate by type (retry, split, drop) and never looks at status codes.
"""

from __future__ import annotations

import gzip
import http.client
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from lookout_client import __version__

from ._events import encode_batch

_Answer = tuple[int, str | None, bytes]


class DeliveryError(Exception):
    """The collector did not take the batch."""


class RetryableError(DeliveryError):
    """Worth sending again later: the collector is unreachable, rate-limiting or briefly failing."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLargeError(DeliveryError):
    """413: the same events may pass in smaller batches."""


class RejectedError(DeliveryError):
    """The collector will never take these events as they are (400, 415, another 4xx)."""


class AuthError(RetryableError):
    """401/403: the API key is wrong or revoked; nothing can pass until it is fixed.

    Retryable, because the events themselves are fine: a deploy with a wrong key keeps what it buffered
    (in memory, then in the spool) and delivers it once the key works, after a fix or a restart.
    """


@dataclass(frozen=True)
class Ack:
    """A 2xx answer: how many events of the batch the collector took and why it refused the others."""

    accepted: int
    rejected: int
    errors: tuple[object, ...]


class Transport:
    """Posts gzipped batches over one kept-alive connection. Only the worker thread uses it."""

    def __init__(self, endpoint: str, api_key: str, timeout: float) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint must be an http:// or https:// URL, got {endpoint!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/v1/events"
        self._url = f"{parts.scheme}://{parts.netloc}{self._path}"
        self._timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"lookout-client/{__version__}",
        }
        self._conn: http.client.HTTPConnection | None = None

    def post(self, events: Sequence[str]) -> Ack:
        """Send one batch; return the collector's Ack or raise the DeliveryError that says what to do."""
        # Level 6 is zlib's default trade-off; 9 costs about twice the CPU for a few percent on JSON.
        body = gzip.compress(encode_batch(events).encode(), compresslevel=6)
        status, retry_after, payload = self._exchange(body)
        return interpret(status, retry_after, payload, len(events))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, body: bytes) -> _Answer:
        may_be_stale = self._conn is not None
        while True:
            try:
                return self._round_trip(self._conn or self._connect(), body)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # The collector (or a proxy) may have closed a kept-alive connection while it sat idle; that
                # says nothing about the collector, so only a fresh connection's failure counts as one.
                if not (may_be_stale and isinstance(exc, ConnectionError)):
                    raise RetryableError(f"collector unreachable at {self._url}: {exc}") from exc
                may_be_stale = False

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _round_trip(self, conn: http.client.HTTPConnection, body: bytes) -> _Answer:
        self._conn = conn
        conn.request("POST", self._path, body=body, headers=self._headers)
        response = conn.getresponse()
        payload = response.read()
        if response.will_close:
            self.close()
        return response.status, response.getheader("Retry-After"), payload


def interpret(status: int, retry_after: str | None, payload: bytes, count: int) -> Ack:
    """Map the collector's answer to a batch of ``count`` events onto an Ack or a DeliveryError."""
    if 200 <= status < 300:
        return _ack(payload, count)
    said = _server_says(payload)
    if status in (401, 403):
        raise AuthError(f"collector refused the API key ({status}: {said}); events are kept and retried until it works")
    if status == 413:
        raise TooLargeError(f"collector found the batch too large (413: {said})")
    if status in (408, 429) or status >= 500:
        raise RetryableError(f"collector answered {status}: {said}", _seconds(retry_after))
    raise RejectedError(f"collector refused the batch ({status}: {said}); it will not be retried")


def _ack(payload: bytes, count: int) -> Ack:
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # A 2xx still means the events were taken, even from a proxy that rewrote the body.
        return Ack(count, 0, ())
    rejected = int(body.get("rejected", 0))
    errors = body.get("errors")
    return Ack(int(body.get("accepted", count - rejected)), rejected, tuple(errors) if isinstance(errors, list) else ())


def _server_says(payload: bytes) -> str:
    try:
        message = json.loads(payload).get("error")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else payload[:200].decode("utf-8", "replace").strip() or "no details"


def _seconds(retry_after: str | None) -> float | None:
    # Only the delay-seconds form: the collector sends it, and a date would need a synchronized clock.
    try:
        seconds = float(retry_after)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
