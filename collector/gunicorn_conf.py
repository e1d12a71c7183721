"""gunicorn settings for the collector, tuned for a 2-core machine.

The work per request is mostly waiting on the broker's acknowledgement and a
little JSON. The gevent worker (the default) serves each connection in a
greenlet, so a client that sends its body slowly or not at all costs a few
kilobytes instead of one of a fixed number of threads (gthread held every
thread with 32 slow connections; docs/benchmarks.md, "Abuse"). Two processes
use both cores for the JSON work the GIL serialises. Every value comes from
``lookout.settings.Settings`` (the LOOKOUT_COLLECTOR_* variables); gunicorn's
own GUNICORN_CMD_ARGS still overrides them.

Memory: the RSS that large bodies left behind was glibc keeping freed memory,
not live objects: with the mmap threshold fixed (MALLOC_MMAP_THRESHOLD_) the
same requests left nothing behind. glibc raises the threshold to the size of
each freed large buffer, so later 5 MB buffers came from the heap and stayed
there. Each worker therefore fixes the threshold, limits malloc arenas (one per
thread under gthread otherwise) and trims the heap every few seconds; a worker
still above LOOKOUT_COLLECTOR_MAX_WORKER_RSS_MB after a trim is recycled as a
backstop.
"""

import ctypes
import glob
import logging
import os
import threading
import time

from lookout.settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.collector_host}:{_settings.collector_port}"
workers = _settings.collector_workers
worker_class = _settings.collector_worker_class
threads = _settings.collector_threads  # gthread only; a gevent worker serves each connection in a greenlet
# A worker silent this long (a greenlet that never yields, a stuck thread) is restarted. Slow clients are
# bounded by LOOKOUT_COLLECTOR_BODY_TIMEOUT_S (collector/intake.py), Kafka waits by the produce timeout.
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


# mallopt parameters (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD_BYTES = 256 * 1024
_MALLOC_ARENAS = 2
_TRIM_INTERVAL_S = 10.0
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_log = logging.getLogger("lookout.collector")


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - absent on musl: no tuning there
        return libc
    except (OSError, AttributeError):
        return None


_libc = _glibc()


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES / 2**20


def _trim_periodically(libc: ctypes.CDLL) -> None:
    while True:
        time.sleep(_TRIM_INTERVAL_S)  # a greenlet's sleep under gevent
        libc.malloc_trim(0)


def post_worker_init(_worker) -> None:  # noqa: ANN001 - gunicorn's hook signature
    from collector.heap import settle

    settle()  # the app is loaded: what it keeps is out of the cyclic collector's way (collector/heap.py)
    if _libc is None:
        return
    _libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    _libc.mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)
    threading.Thread(target=_trim_periodically, args=(_libc,), name="malloc-trim", daemon=True).start()


def post_request(worker, _req, _environ, _resp) -> None:  # noqa: ANN001 - gunicorn's hook signature
    bound = _settings.collector_max_worker_rss_mb
    if not worker.alive or _rss_mb() <= bound:
        return
    if _libc is not None:
        _libc.malloc_trim(0)
    rss = _rss_mb()
    if rss > bound:
        # Finishes its in-flight requests and exits; the arbiter starts a fresh worker.
        _log.warning("collector worker over its memory bound, recycling it",
                     extra={"pid": os.getpid(), "rss_mb": round(rss), "bound_mb": bound})
        worker.alive = False


def child_exit(_server, worker):  # noqa: ANN001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
