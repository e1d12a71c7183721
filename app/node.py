"""The single-node process: pipeline consumers, dashboards and scheduler as threads of one process.

chDB lets only one process open its data path, so in single-node mode every
component that touches ClickHouse lives here (the collector, which never does,
runs separately under gunicorn).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry
from waitress.server import BaseWSGIServer, create_server

from access.security_events import KafkaSecurityEvents
from app.scheduler import create_scheduler
from dashboards.app import create_app as create_dashboards
from lookout.settings import Settings
from pipeline.prometheus import PipelineCollector
from pipeline.runner import PipelineThreads, build_consumers

log = logging.getLogger("app.node")


def waitress_server(app: Any, socket_map: dict, host: str, port: int, threads: int) -> BaseWSGIServer:
    """The dashboards' server in this process (waitress); each open stream (live tail) holds a thread.

    poll(), not waitress's default select(): chDB keeps three /proc files open per engine thread, so this
    process passes 1,024 descriptors, and select() cannot watch a socket numbered above that.
    """
    return create_server(
        app, map=socket_map, host=host, port=port, threads=threads, ident="lookout", asyncore_use_poll=True
    )


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline = PipelineThreads(build_consumers(settings))
        self.scheduler = create_scheduler(settings)
        self._server: BaseWSGIServer | None = None
        self._server_map: dict = {}  # waitress's socket map, so stop() can close every connection
        self._security_events = KafkaSecurityEvents(settings)
        self._server_thread: threading.Thread | None = None

    def start(self) -> None:
        self.pipeline.start()
        registry = CollectorRegistry()
        registry.register(PipelineCollector(self.pipeline.consumers))
        app = create_dashboards(self.settings, registry, self._security_events)
        self._server = waitress_server(
            app, self._server_map, self.settings.dashboard_host, self.settings.dashboard_port,
            self.settings.dashboard_threads,
        )  # fmt: skip
        self._server_thread = threading.Thread(target=self._server.run, name="dashboards", daemon=True)
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
            self._server.task_dispatcher.shutdown(timeout=5)
            for channel in list(self._server_map.values()):
                channel.handle_close()  # an empty map ends the server's loop
            if self._server_thread is not None:
                self._server_thread.join(5)
        self._security_events.close()
        self.pipeline.stop()
