"""The pinned Node.js logging clients (tests/integration/node), installed once per session with npm ci."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_CLIENTS = Path(__file__).parent / "node"


@pytest.fixture(scope="session", name="node_clients")
def install_node_clients(test_home: Path) -> Path:
    # Imported by several test modules, so pytest may ask for it once per module: install only once.
    target = test_home / "node"
    if not (target / "node_modules").is_dir():
        target.mkdir(exist_ok=True)
        for source in NODE_CLIENTS.iterdir():
            shutil.copy(source, target / source.name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=target, check=True, capture_output=True,
                       timeout=300)
    return target


def run_node(node_clients: Path, script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["node", script], cwd=node_clients, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)
