"""`lookout up --demo`: a steady stream of realistic events from a few made-up services.

It ships through the public collector API with the shipper library, exactly as
an app server would, so the demo also exercises the whole path.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from lookout_client import Client

SERVICES = ("api-gateway", "payments", "auth", "chain-indexer")
ENDPOINTS = (
    ("GET", "/v1/accounts/{id}"),
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments/{id}"),
    ("POST", "/v1/auth/login"),
    ("GET", "/v1/assets"),
    ("PUT", "/v1/kyc/{id}"),
)
MESSAGES = {
    "info": ("request completed", "payment captured", "session refreshed", "block indexed", "cache warmed"),
    "warn": ("slow database query", "retrying upstream call", "rate limit nearly reached"),
    "error": ("payment provider timeout", "database connection reset", "invalid signature on webhook"),
    "debug": ("cache miss", "feature flag evaluated"),
}


def _status(rng: random.Random) -> int:
    roll = rng.random()
    return 500 if roll < 0.02 else 404 if roll < 0.06 else 401 if roll < 0.08 else 201 if roll < 0.3 else 200


# The gauges the shipper's system reporter sends (lookout_client.system), so the demo's system page looks like a
# real deployment's: (metric_type, metric_name, unit, where a machine starts, how far it wanders, bounds).
GAUGES = (
    ("cpu", "system.cpu.utilization", "percent", 35.0, 6.0, (1.0, 100.0)),
    ("memory", "system.memory.utilization.used", "percent", 55.0, 2.0, (5.0, 99.0)),
    ("disk", "system.filesystem.utilization", "percent", 60.0, 0.5, (1.0, 99.5)),
    ("load", "system.cpu.load_average.1m", "thread", 1.0, 0.3, (0.0, 16.0)),
)


class Machines:
    """Three instances per service whose gauges drift (a random walk), instead of jumping at every sample."""

    def __init__(self, rng: random.Random) -> None:
        self.values = {
            f"{service}-{n}": [start + rng.uniform(-15, 25) * (start / 60) for _, _, _, start, _, _ in GAUGES]
            for service in SERVICES
            for n in (1, 2, 3)
        }

    def report(self, rng: random.Random) -> Iterator[dict[str, Any]]:
        """One instance's sample of every gauge."""
        instance = rng.choice(sorted(self.values))
        values = self.values[instance]
        for i, (metric_type, name, unit, _, step, (low, high)) in enumerate(GAUGES):
            values[i] = min(high, max(low, values[i] + rng.gauss(0, step)))
            yield {
                "kind": "system_metric",
                "service": instance.rsplit("-", 1)[0],
                "instance": instance,
                "metric_type": metric_type,
                "metric_name": name,
                "value": round(values[i], 2),
                "unit": unit,
            }


# A few contracts the indexer follows, with the events each emits.
CONTRACTS = {
    "0x" + "a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": ("Transfer", "Approval"),
    "0x" + "c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2": ("Deposit", "Withdrawal", "Transfer"),
    "0x" + "7a250d5630b4cf539739df2c5dacb4c659f2488d": ("Swap", "Sync"),
}


class Chain:
    """Blocks that follow each other, one of which now and then never reaches the indexer (a gap to flag)."""

    def __init__(self, rng: random.Random) -> None:
        self.block = 19_000_000 + rng.randint(0, 100_000)

    def next_block(self, rng: random.Random) -> Iterator[dict[str, Any]]:
        """An event from every contract in the next block (gaps are flagged per contract)."""
        self.block += 1 + (rng.randint(1, 3) if rng.random() < 0.02 else 0)
        for contract, event_types in CONTRACTS.items():
            yield {
                "kind": "blockchain_event",
                "service": "chain-indexer",
                "event_type": rng.choice(event_types),
                "contract_address": contract,
                "transaction_hash": "0x" + "".join(rng.choices("0123456789abcdef", k=64)),
                "block_number": self.block,
                "log_index": rng.randint(0, 200),
                "decoded_data": {"from": "0xabc", "to": "0xdef", "value": str(rng.randint(1, 10**18))},
            }


def events(rng: random.Random) -> Iterator[dict[str, Any]]:
    """An endless, plausible mix: mostly api metrics and logs, some system metrics, a few of the rest."""
    machines = Machines(rng)
    chain = Chain(rng)
    while True:
        service = rng.choice(SERVICES)
        instance = f"{service}-{rng.randint(1, 3)}"
        method, endpoint = rng.choice(ENDPOINTS)
        status = _status(rng)
        latency = round(rng.lognormvariate(3.2, 0.6) * (4 if status >= 500 else 1), 2)
        request_id = str(uuid.uuid4())
        yield {
            "kind": "api_metric",
            "service": service,
            "endpoint": endpoint,
            "method": method,
            "status_code": status,
            "response_time_ms": latency,
            "request_size_bytes": rng.randint(80, 4000),
            "response_size_bytes": rng.randint(200, 40000),
            "cache_hit": rng.random() < 0.3,
        }
        level = "error" if status >= 500 else "warn" if latency > 120 else rng.choice(("info", "info", "debug"))
        yield {
            "kind": "log",
            "service": service,
            "instance": instance,
            "level": level,
            "message": rng.choice(MESSAGES[level]),
            "category": "API",
            "event_type": "http_request",
            "request_id": request_id,
            "correlation_id": request_id,
            "endpoint": endpoint,
            "method": method,
            "status_code": status,
            "response_time_ms": latency,
        }
        if rng.random() < 0.05:
            yield from machines.report(rng)
        if rng.random() < 0.02:
            yield from chain.next_block(rng)
        if status == 401 and rng.random() < 0.5:
            yield {
                "kind": "security_event",
                "service": "auth",
                "event_type": "failed_login",
                "severity": rng.choice(("low", "medium", "high")),
                "ip_address": f"203.0.113.{rng.randint(1, 254)}",
                "endpoint": "/v1/auth/login",
                "threat_indicators": {"attempts": rng.randint(1, 12)},
            }
        if rng.random() < 0.01:
            yield {
                "kind": "admin_audit",
                "service": "api-gateway",
                "admin_id": f"admin-{rng.randint(1, 4)}",
                "action": rng.choice(("user.suspend", "kyc.approve", "asset.update")),
                "resource_type": "user",
                "resource_id": str(rng.randint(1000, 9999)),
                "justification": "demo",
            }


class DemoTraffic:
    """Sends ``rate`` events per second until stopped."""

    def __init__(self, endpoint: str, api_key: str, rate: float = 50.0, seed: int | None = None) -> None:
        # A short backoff cap: a demo should show data again within seconds of a hiccup.
        self._client = Client(
            endpoint, api_key, service="lookout-demo", batch_size=200, flush_interval=1.0, backoff_cap=2.0
        )
        self._rate = rate
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        interval = 1.0 / self._rate
        next_at = time.monotonic()
        for event in events(self._rng):
            if self._stop.is_set():
                return
            self._client.send(event)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close(timeout=5)
