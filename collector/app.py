"""The collector's Flask app: the public ingestion API of the event contract.

Request flow: request id -> API key (401) -> body read within limits (413)
-> parse (400/415) -> validate each event -> rate limit (429) -> produce and
wait for the broker's acknowledgement (503) -> 202 with per-event errors.
The routes live in ``collector/views``, the steps they share in ``collector/intake.py``,
the refusals in ``collector/errors.py``.
"""

from __future__ import annotations

from flask import Flask

from collector import errors, hooks
from collector.services import CollectorServices, attach
from collector.views import elastic, events, loki, otlp_export, probes, shippers
from lookout.settings import Settings

__all__ = ["CollectorServices", "create_app"]


def create_app(settings: Settings, services: CollectorServices | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None  # bodies are bounded by intake.read_body, with a JSON 413
    attach(app, settings, services or CollectorServices.from_settings(settings))
    hooks.install(app)
    errors.install(app)
    for area in (events, otlp_export, probes, elastic, loki, shippers):
        app.register_blueprint(area.blueprint)
    return app
