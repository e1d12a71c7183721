"""Ship events from an application server to a Lookout collector (standard library only).

Usage::

    import logging
    from lookout_client import Client, LookoutHandler, WsgiMetricsMiddleware

    client = Client(
        "https://lookout.example.com", api_key="...", service="payments-api", instance="web-1",
        spool_path="/var/lib/payments-api/lookout.spool",  # optional: survives collector outages and restarts
    )
    logging.getLogger().addHandler(LookoutHandler(client, level=logging.INFO))
    app.wsgi_app = WsgiMetricsMiddleware(app.wsgi_app, client)  # Flask; any WSGI app can be wrapped

    logging.getLogger(__name__).info("payment captured", extra={"request_id": rid, "user_id": user.id})
    client.send({"kind": "security_event", "event_type": "failed_login", "severity": "medium", "ip_address": ip})

``send`` never blocks and never raises: a background thread batches, gzips and
posts the events to ``POST {endpoint}/v1/events``, retries with backoff,
spools to disk what the collector cannot take yet, and flushes at interpreter
exit (``client.close(timeout)`` does it earlier). ``client.stats`` counts what
became of every event; ``on_error=`` receives problems such as a rejected API
key, once each. Create the client in each worker process (after the server
forks), and give each process its own ``spool_path``.
"""

__version__ = "0.1.0"  # before the imports: the transport sends it as its User-Agent

from ._batcher import ClientStats
from ._client import Client
from .handler import LookoutHandler
from .wsgi import WsgiMetricsMiddleware

__all__ = ["Client", "ClientStats", "LookoutHandler", "WsgiMetricsMiddleware"]
