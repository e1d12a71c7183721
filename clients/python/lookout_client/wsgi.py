"""WsgiMetricsMiddleware: one ``api_metric`` event per request served by any WSGI application."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ._client import Client

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
# The contract's limits; longer values would get the whole metric rejected.
_ENDPOINT_MAX = 255
_ERROR_TYPE_MAX = 50


class WsgiMetricsMiddleware:
    """Wraps a WSGI application and reports every request as an ``api_metric`` event.

    endpoint is ``environ["lookout.route"]`` when the application sets it (a
    route template such as ``/users/<id>`` keeps the number of distinct
    endpoints small), PATH_INFO otherwise. response_time_ms runs until the
    server closes the response body, so a streamed body counts in full;
    request_size_bytes is CONTENT_LENGTH and response_size_bytes the body as
    it was handed to the server. Status, headers and body pass through as
    they are.
    """

    def __init__(self, app: WSGIApplication, client: Client) -> None:
        self._app = app
        self._client = client

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        metric = _Metric(self._client, environ)

        def recording_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            metric.status = status
            write = start_response(status, headers, exc_info)

            def counting_write(data: bytes) -> object:
                metric.body_bytes += len(data)
                return write(data)

            return counting_write

        try:
            body = self._app(environ, recording_start_response)
        except Exception as exc:
            metric.error = exc
            metric.finish()
            raise
        return (_SizedBody if hasattr(body, "__len__") else _Body)(body, metric)


class _Metric:
    def __init__(self, client: Client, environ: WSGIEnvironment) -> None:
        self._client = client
        self._environ = environ
        self._started_at = time.time()
        self._started = time.perf_counter()
        self.status: str | None = None
        self.body_bytes = 0
        self.error: Exception | None = None
        self._finished = False

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        environ = self._environ
        event: dict[str, Any] = {
            "kind": "api_metric",
            "timestamp": int(self._started_at * 1000),
            "endpoint": str(environ.get("lookout.route") or environ.get("PATH_INFO") or "/")[:_ENDPOINT_MAX],
            "method": environ.get("REQUEST_METHOD", "GET"),
            "status_code": self._status_code(),
            "response_time_ms": round((time.perf_counter() - self._started) * 1000, 3),
            "request_size_bytes": _content_length(environ),
            "response_size_bytes": self.body_bytes,
        }
        if self.error is not None:
            event["error_type"] = type(self.error).__name__[:_ERROR_TYPE_MAX]
        self._client.send(event)

    def _status_code(self) -> int:
        # Until the first body bytes go out, a server answers an application error with its own 500,
        # which never passes through start_response here.
        if self.status is None or (self.error is not None and self.body_bytes == 0):
            return 500
        try:
            return int(self.status.split(None, 1)[0])
        except ValueError:
            return 500


class _Body:
    """The application's response body, handed on chunk by chunk and measured on the way.

    A ``wsgi.file_wrapper`` body loses the server's sendfile shortcut behind
    this wrapper; the bytes sent are the same.
    """

    def __init__(self, body: Iterable[bytes], metric: _Metric) -> None:
        self._body = body
        self._metric = metric

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._body:
                self._metric.body_bytes += len(chunk)
                yield chunk
        except Exception as exc:
            self._metric.error = exc
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._metric.finish()


class _SizedBody(_Body):
    """Keeps len(), which servers such as wsgiref use to set Content-Length for a one-chunk body."""

    def __len__(self) -> int:
        return len(self._body)  # type: ignore[arg-type]


def _content_length(environ: WSGIEnvironment) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0
