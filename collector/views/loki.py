"""``POST /loki/api/v1/push``: Loki's push API, so Promtail, Grafana Alloy and the Loki logging libraries
write to Lookout by changing only their URL and credentials.

Answered as Loki answers: 204 when every entry was taken; otherwise the good entries are kept and the
answer is a 400 whose plain-text body names what was refused (clients log it and do not resend the batch,
which is right: the good entries are already stored). Refusals of the whole request are plain text too.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from collector import intake, loki
from collector.body import BodyError, BodyLimits, media_type
from collector.errors import ApiError
from collector.presented_key import presented_key
from collector.services import settings

blueprint = Blueprint("loki", __name__)
MAX_REASONS = 10


@blueprint.post("/loki/api/v1/push")
def push() -> Response:
    key = presented_key(request.headers.get("Authorization"))
    if key is None:
        raise ApiError(401, "no API key: send it as the basic auth password or as 'Authorization: Bearer <key>'")
    principal = intake.principal_for(key)
    content_type = media_type(request.headers.get("Content-Type"), loki.PUSH_TYPES)
    limits = BodyLimits.from_settings(settings())
    body = intake.inflated(intake.read_body())
    streams = loki.decode(body, content_type, limits.max_body_bytes)
    count = loki.entry_count(streams)
    if count > limits.max_events:
        raise ApiError(413, f"{count} entries in one push; the limit is {limits.max_events}")
    items = list(loki.events(streams, default_kind=principal.default_kind, received_ms=int(time.time() * 1000)))
    if not items:
        return Response(status=204)
    accepted = intake.accept(items, principal)
    result = accepted.result
    if not result.errors:
        response = Response(status=204)
    else:
        reasons = "\n".join(f"entry {e['index']}: {e['error']}" for e in result.errors[:MAX_REASONS])
        summary = f"{result.rejected} of {len(items)} entries refused, {result.accepted} stored"
        response = _text(400, f"{summary}:\n{reasons}")
    response.headers.update(accepted.rate_headers)
    return response


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers.update(headers or {})
    return response


@blueprint.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="loki"'
    return _text(exc.status, exc.message, headers)


@blueprint.errorhandler(BodyError)
def _body_error(exc: BodyError) -> Response:
    return _text(exc.status, exc.reason)
