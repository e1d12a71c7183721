"""Client: the one object an application creates to ship events to Lookout."""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ._batcher import Batcher, ClientStats
from ._events import is_urgent, prepare
from ._report import ErrorCallback, Reporter
from ._spool import Spool, SpoolError
from ._transport import Transport

# The contract's rule for service names: checked here so that a typo fails at start-up instead of
# getting every single event rejected.
_SERVICE = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
_MIB = 1024 * 1024
_EXIT_TIMEOUT = 5.0


class Client:
    """Ships events to a Lookout collector from a background thread.

    ``send`` and ``send_many`` are thread-safe, never block and never raise:
    they fill in ``service``, ``instance``, ``timestamp`` (epoch ms) and
    ``event_id`` where the event lacks them and queue it. A full queue drops
    the newest events (counted in ``stats.dropped``). Batches leave when
    ``batch_size`` events are queued, ``flush_interval`` seconds after the
    oldest queued event arrived, or at once for an error-level log.

    A POST that times out (``timeout`` seconds), fails to connect or gets
    429/503/5xx is retried after a random wait of up to ``backoff_base`` *
    2**attempt seconds, capped at ``backoff_cap`` and never shorter than the
    collector's Retry-After. 401/403 (a wrong or revoked API key) is retried
    the same way, so nothing buffered is lost while the key is fixed. 400,
    415 and per-event rejections are never retried; a 413 batch is halved
    until it fits.

    With ``spool_path``, batches the collector cannot take (unreachable, or
    still answering 401/429/503 after ``retries_before_spool`` retries), and the
    queue once it is half full, go to that file and are replayed in order
    when the collector answers again; the file survives restarts and is
    bounded by ``max_spool_bytes``. Every process needs its own spool_path.

    Problems (a bad API key, rejected events, an unreachable collector) are
    reported once each to ``on_error``, or else logged as warnings on the
    ``lookout_client`` logger (stderr when logging is not configured).
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        service: str,
        instance: str | None = None,
        *,
        batch_size: int = 100,
        flush_interval: float = 5.0,
        max_queue: int = 10_000,
        spool_path: str | os.PathLike[str] | None = None,
        max_spool_bytes: int = 100 * _MIB,
        timeout: float = 5.0,
        on_error: ErrorCallback | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        retries_before_spool: int = 3,
    ) -> None:
        if not isinstance(service, str) or not _SERVICE.fullmatch(service):
            raise ValueError(f"service must be 1 to 128 letters, digits or any of _.:/- (got {service!r})")
        if batch_size < 1 or max_queue < 1 or max_spool_bytes < 1 or retries_before_spool < 0:
            raise ValueError("batch_size, max_queue and max_spool_bytes must be positive, retries_before_spool >= 0")
        if min(flush_interval, timeout, backoff_base, backoff_cap) <= 0:
            raise ValueError("flush_interval, timeout, backoff_base and backoff_cap must be positive")
        self._service = service
        self._instance = instance
        self._reporter = Reporter(on_error)
        transport = Transport(endpoint, api_key, timeout)
        self._batcher = Batcher(
            transport,
            _open_spool(spool_path, max_spool_bytes, self._reporter),
            self._reporter,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            retries_before_spool=retries_before_spool,
        )
        # Closes (so flushes) at interpreter exit, or if the client is garbage-collected unclosed. It holds
        # the batcher, not the client, so it does not keep the client alive.
        self._finalizer = weakref.finalize(self, self._batcher.close, _EXIT_TIMEOUT)

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue one event (a dict following the event contract) for delivery."""
        try:
            if self._batcher.full:
                self._batcher.discard()
                return
            self._batcher.offer(prepare(event, self._service, self._instance), is_urgent(event))
        except Exception as exc:
            self._batcher.discard()
            self._reporter.once("unencodable", ValueError(f"dropped an event that cannot be encoded: {exc!r}"))

    def send_many(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Queue several events, in order."""
        for event in events:
            self.send(event)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until no event sent so far is still in memory; False on timeout.

        By then each was delivered, spooled, refused by the collector or dropped; ``stats`` says which.
        """
        return self._batcher.flush(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver (or spool) what is queued, then stop; later sends are dropped.

        False when something queued could be neither delivered nor spooled within ``timeout``.
        """
        self._finalizer.detach()
        return self._batcher.close(timeout)

    @property
    def stats(self) -> ClientStats:
        return self._batcher.stats()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _open_spool(path: str | os.PathLike[str] | None, max_bytes: int, reporter: Reporter) -> Spool | None:
    if path is None:
        return None
    try:
        return Spool(Path(path), max_bytes, lambda error: reporter.once("spool damage", error))
    except (OSError, SpoolError) as exc:
        # The application must start even when its spool cannot be used; it then runs without one.
        reporter.once("spool open", SpoolError(f"cannot use spool {path}: {exc}; continuing without it"))
        return None
