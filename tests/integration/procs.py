"""Lookout commands run as real child processes, so tests can SIGKILL and SIGTERM them.

Each child runs in its own session (process group), and :class:`Processes`
kills whatever is still running when a test ends, pass or fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from lookout.settings import PROJECT_ROOT

LOOKOUT = [sys.executable, "-m", "app.cli"]

# Runs first in every child: asks Linux to SIGKILL the child when the test process dies
# (PR_SET_PDEATHSIG survives exec), so not even a killed pytest leaves pipelines behind.
_DIE_WITH_PARENT = """
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(1, 9)
if os.getppid() != int(sys.argv[1]):
    sys.exit("the test process is gone")
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


def handles_sigterm(pid: int) -> bool:
    """True once the process has installed a SIGTERM handler."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


class Child:
    """One `python -m app.cli ...` process with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_file: Path) -> None:
        self.name = name
        self.log_file = log_file
        with log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *LOOKOUT[1:], *argv],
                cwd=PROJECT_ROOT,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> int:
        """SIGKILL, no goodbye: no flush, no commit, no LeaveGroup."""
        self._signal_group(signal.SIGKILL)
        return self.proc.wait(10)

    def handles_sigterm(self) -> bool:
        """True once the child has installed its SIGTERM handler (its start-up is that far)."""
        return handles_sigterm(self.proc.pid)

    def terminate(self, timeout_s: float = 45.0) -> int:
        """SIGTERM and wait for a graceful exit; a child that hangs is killed and reported.

        A child still importing would die of the signal's default action, so the signal waits
        until the child handles it.
        """
        deadline = time.monotonic() + 30
        while self.alive() and not self.handles_sigterm() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_group(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout_s:.0f}s\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- {self.name} (pid {self.pid}) ---\n" + "\n".join(text.splitlines()[-lines:])


class Processes:
    """The children of one test; :meth:`close` ends every one still running."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self.children: list[Child] = []

    def start(self, argv: Sequence[str], env: Mapping[str, str], name: str | None = None) -> Child:
        name = name or f"{argv[0]}-{len(self.children) + 1}"
        child = Child(name, argv, env, self._log_dir / f"{name}.log")
        self.children.append(child)
        return child

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], timeout_s: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a lookout command to completion (e.g. `migrate`) and return its output."""
        return self._complete([*LOOKOUT, *argv], env, timeout_s)

    def python(
        self, code: str, args: Sequence[str], env: Mapping[str, str], timeout_s: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a Python snippet in a fresh process (one that may open a chDB path this process must not)."""
        return self._complete([sys.executable, "-c", code, *args], env, timeout_s)

    @staticmethod
    def _complete(argv: Sequence[str], env: Mapping[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def log_tails(self) -> str:
        return "\n".join(child.log_tail() for child in self.children)

    def close(self) -> None:
        for child in self.children:
            if child.alive():
                child.kill()
