"""How the collector says no: one exception for the views to raise, one JSON shape for every refusal.

Views raise :class:`ApiError` (or let a :class:`collector.body.BodyError` or a Werkzeug HTTP exception
through); the handlers registered by :func:`install` turn each into ``{"error": ..., "request_id": ...}``
with its status and headers. Anything else is a bug: logged with its traceback, answered 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from collector.body import BodyError

log = logging.getLogger("lookout.collector")


class ApiError(Exception):
    """Ends the request with ``status`` and a message that tells the client what to change."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify({"error": message, "request_id": g.get("request_id")})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _api_error(exc: ApiError) -> Response:
    return json_error(exc.status, exc.message, exc.headers)


def _body_error(exc: BodyError) -> Response:
    return json_error(exc.status, exc.reason)


def _http_error(exc: HTTPException) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, NotFound):
        message = f"no such endpoint: {request.path}"
    elif isinstance(exc, MethodNotAllowed):
        message = f"{request.method} is not allowed on {request.path}"
        if exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
    else:
        message = exc.description or exc.name
    return json_error(exc.code or 500, message, headers)


def _unexpected(_exc: Exception) -> Response:
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    return json_error(500, "internal error; the request id identifies it in the collector's log")


def install(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(BodyError, _body_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
