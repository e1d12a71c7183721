"""The single-node process: pipeline consumers, dashboards and scheduler as threads of one process.

chDB lets only one process open its data path, so in single-node mode every
component that touches ClickHouse lives here (the collector, which never does,
runs separately under gunicorn).
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry
from werkzeug.serving import BaseWSGIServer, make_server

from app.scheduler import create_scheduler
from dashboards.app import create_app as create_dashboards
from lookout.settings import Settings
from pipeline.prometheus import PipelineCollector
from pipeline.runner import PipelineThreads, build_consumers

log = logging.getLogger("app.node")


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline = PipelineThreads(build_consumers(settings))
        self.scheduler = create_scheduler(settings)
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None

    def start(self) -> None:
        self.pipeline.start()
        registry = CollectorRegistry()
        registry.register(PipelineCollector(self.pipeline.consumers))
        app = create_dashboards(self.settings, registry)
        self._server = make_server(self.settings.dashboard_host, self.settings.dashboard_port, app, threaded=True)
        self._server_thread = threading.Thread(target=self._server.serve_forever, name="dashboards", daemon=True)
        self._server_thread.start()
        self.scheduler.start()
        log.info(
            "node started",
            extra={"dashboards": f"http://{self.settings.dashboard_host}:{self.settings.dashboard_port}"},
        )

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._server is not None:
            self._server.shutdown()
        self.pipeline.stop()
