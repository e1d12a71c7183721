"""How a collector process (a gunicorn worker, a ``lookout syslog`` worker) sets up Python's cyclic collector.

Called once the process has loaded everything it keeps for its life (the app, the modules, the settings):

* ``gc.freeze()`` moves all of that out of the collector's sight, so no full collection walks it again.
* The first generation's threshold goes from 700 allocations to 50,000. A 1,000-event batch allocates some
  30,000 objects and stays alive until Kafka acknowledges it; at 700, each batch went through dozens of
  young collections and was promoted into the older generations, which then walked it again. Nearly all
  of it is freed by reference counting, not by the cyclic collector, so collecting less often leaves only
  a little cyclic garbage (exceptions and their tracebacks) for a little longer. On the syslog listener
  this took the events per core from 60-65% to 70-76% of the native route's
  (docs/benchmarks.md, "Collector processes collect garbage less often").
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 100


def settle() -> None:
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
