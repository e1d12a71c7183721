"""The one-minute fault soak (bench/soak.py --minutes 1) as a test: its verdict must be a pass.

It runs the real platform in a private home (Kafka, PostgreSQL, Redis, the collector under gunicorn,
a `lookout pipeline` process) with a mixed load of all six kinds while the pipeline is SIGKILLed
twice, the broker restarted, PostgreSQL stopped, the collector restarted and Redis filled to its
limit; every acknowledged event must then be stored exactly once or dead-lettered with a reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lookout.contract import KINDS
from lookout.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_one_minute_soak_keeps_every_acknowledged_event_exactly_once(tmp_path: Path) -> None:
    report = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "1", "--json", str(report)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = f"{done.stdout}\n--- stderr ---\n{done.stderr[-6000:]}"
    assert done.returncode == 0, output
    assert "verdict: PASS" in done.stdout, output
    result = json.loads(report.read_text())
    figures = result["figures"]
    # The verdict is only worth something if the run did what it claims.
    assert set(figures["acknowledged_by_kind"]) == set(KINDS), output
    assert figures["events_acknowledged"] >= 5000, output
    assert figures["missing"] == figures["visible_duplicates"] == 0, output
    assert [f["name"].split(" ")[0] for f in result["faults"]] == ["SIGKILL", "restart", "stop", "restart", "fill",
                                                                   "SIGKILL"], output  # fmt: skip
    assert all(f["error"] is None and f["recovered_s"] is not None for f in result["faults"]), output
    # While the broker restarted the collector answered 503, and the clients re-sent.
    assert figures["answers"].get("503", 0) > 0, output
