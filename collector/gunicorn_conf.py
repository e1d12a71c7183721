"""gunicorn settings for the collector, tuned for a 2-core machine.

The work per request is mostly waiting on the broker's acknowledgement and a
little JSON, so threads (gthread) give concurrency cheaply; two processes use
both cores for the JSON work the GIL serialises. All of it is overridable with
the usual GUNICORN_CMD_ARGS or the LOOKOUT_COLLECTOR_* variables.
"""

import multiprocessing
import os

bind = f"{os.environ.get('LOOKOUT_COLLECTOR_HOST', '127.0.0.1')}:{os.environ.get('LOOKOUT_COLLECTOR_PORT', '4318')}"
workers = int(os.environ.get("LOOKOUT_COLLECTOR_WORKERS", min(4, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("LOOKOUT_COLLECTOR_THREADS", "16"))
# Bounded so a slow client cannot hold a worker for long; Kafka waits are bounded separately.
timeout = 30
graceful_timeout = 20
keepalive = 15
backlog = 2048
accesslog = None  # the app logs one structured line per request itself
errorlog = "-"
loglevel = "warning"
proc_name = "lookout-collector"
