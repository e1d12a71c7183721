"""The collector's routes, one blueprint per area: ``events`` (/v1/events), ``otlp_export`` (/v1/logs,
/v1/metrics) and ``probes`` (/healthz, /readyz, /metrics)."""
