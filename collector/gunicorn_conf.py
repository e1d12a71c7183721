"""gunicorn settings for the collector, tuned for a 2-core machine.

The work per request is mostly waiting on the broker's acknowledgement and a
little JSON, so threads (gthread) give concurrency cheaply; two processes use
both cores for the JSON work the GIL serialises. Every value comes from
``lookout.settings.Settings`` (the LOOKOUT_COLLECTOR_* variables); gunicorn's
own GUNICORN_CMD_ARGS still overrides them.
"""

import glob
import os

from lookout.settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.collector_host}:{_settings.collector_port}"
workers = _settings.collector_workers
worker_class = "gthread"
threads = _settings.collector_threads
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
# The directory must be empty at start, or counters of a previous run would leak in. prometheus_client
# reads its location from the environment, once, when first imported: this sets it before any worker
# imports it (the workers inherit the arbiter's environment).
_metrics_dir = _settings.collector_metrics_dir
os.makedirs(_metrics_dir, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)
for _stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
    os.remove(_stale)


def child_exit(_server, worker):  # noqa: ANN001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
