"""The distribution installs alone: a fresh virtualenv, no package index, nothing but lookout-client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

DISTRIBUTION = Path(__file__).resolve().parents[1]


def test_lookout_client_installs_into_a_fresh_venv_without_any_dependency(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(
        DISTRIBUTION, tmp_path / "src", ignore=shutil.ignore_patterns("tests", "build", "*.egg-info")
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            wheels,
            source,
        ],
        check=True,
        timeout=120,
    )
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    # No PYTHONPATH and no index: only the wheel can be installed, and a declared dependency would fail here.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    def run(*args: str) -> str:
        done = subprocess.run([python, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels), "lookout-client")
    installed = {package["name"] for package in json.loads(run("-m", "pip", "list", "--format=json"))}
    assert installed - {"pip", "setuptools"} == {"lookout-client"}
    probe = (
        "import importlib.metadata as m, lookout_client; "
        "print([r for r in m.requires('lookout-client') or [] if 'extra ==' not in r], lookout_client.__file__)"
    )
    requires, location = run("-I", "-c", probe).split()
    assert requires == "[]"  # only the optional extra ([system]: psutil) declares anything
    assert location.startswith(str(tmp_path / "venv"))
