"""gunicorn settings for the dashboards in the scaled mode.

gthread workers: a page mostly waits on PostgreSQL, Redis or ClickHouse, and an
open live tail holds a thread, so each process has LOOKOUT_DASHBOARD_THREADS
of them. Sessions live in Redis, so any worker serves any browser; every
process must share LOOKOUT_SECRET_KEY for the CSRF tokens.
"""

import os

bind = f"{os.environ.get('LOOKOUT_DASHBOARD_HOST', '127.0.0.1')}:{os.environ.get('LOOKOUT_DASHBOARD_PORT', '8000')}"
workers = 2
worker_class = "gthread"
threads = int(os.environ.get("LOOKOUT_DASHBOARD_THREADS", "32"))
timeout = 60
graceful_timeout = 20
keepalive = 15
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "lookout-dashboards"
