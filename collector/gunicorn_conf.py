"""gunicorn settings for the collector, tuned for a 2-core machine.

The work per request is mostly waiting on the broker's acknowledgement and a
little JSON, so threads (gthread) give concurrency cheaply; two processes use
both cores for the JSON work the GIL serialises. All of it is overridable with
the usual GUNICORN_CMD_ARGS or the LOOKOUT_COLLECTOR_* variables.
"""

import glob
import multiprocessing
import os
import tempfile

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

# Each worker writes its metrics to files here; /metrics sums them (collector/prometheus.py).
# The directory must be empty at start, or counters of a previous run would leak in. It must
# also be set before prometheus_client is first imported: it picks its storage at import.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(os.environ.get("LOOKOUT_HOME", tempfile.gettempdir()), f"collector-metrics-{bind.rsplit(':', 1)[-1]}"),
)
os.makedirs(_metrics_dir, exist_ok=True)
for _stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
    os.remove(_stale)


def child_exit(_server, worker):  # noqa: ANN001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
