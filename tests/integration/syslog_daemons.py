"""Debian's syslog daemons, run by the tests as unprivileged foreground processes with a generated config.

syslog-ng is installed by scripts/bootstrap with apt; rsyslog conflicts with it as a Debian package, so
bootstrap unpacks it (with its Elasticsearch output) into ``~/.cache/lookout/rsyslog``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RSYSLOG_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lookout" / "rsyslog"


def syslog_ng() -> str:
    found = shutil.which("syslog-ng")
    assert found, "Debian's syslog-ng and syslog-ng-mod-http are missing: run scripts/bootstrap"
    return found


def rsyslogd() -> tuple[str, Path]:
    """The rsyslogd binary and its module directory."""
    unpacked = RSYSLOG_DIR / "usr" / "sbin" / "rsyslogd"
    if unpacked.exists():
        return str(unpacked), RSYSLOG_DIR / "usr" / "lib" / "x86_64-linux-gnu" / "rsyslog"
    installed = shutil.which("rsyslogd")
    assert installed, f"Debian's rsyslog is missing (neither in {RSYSLOG_DIR} nor on PATH): run scripts/bootstrap"
    return installed, Path("/usr/lib/x86_64-linux-gnu/rsyslog")


@contextmanager
def running(command: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A daemon in the foreground, its output in ``log_path``; stopped (by its own pid) on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def syslog_ng_command(config: str, workdir: Path) -> list[str]:
    path = workdir / "syslog-ng.conf"
    path.write_text(config)
    return [syslog_ng(), "-F", "--no-caps", "-f", str(path), "-R", str(workdir / "persist"),
            "-p", str(workdir / "pid"), "-c", str(workdir / "ctl")]


def rsyslog_command(config: str, workdir: Path) -> list[str]:
    binary, modules = rsyslogd()
    path = workdir / "rsyslog.conf"
    path.write_text(config)
    return [binary, "-n", "-f", str(path), "-i", str(workdir / "rsyslog.pid"), "-M", str(modules)]
