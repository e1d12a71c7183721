"""What every local service has in common: ports, a directory, a log, a pid.

Processes are identified by pid *and* working directory (each service runs with
its own directory as cwd), so a recycled pid or a server started from another
home is never mistaken for ours.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

LOCALHOST = "127.0.0.1"

# Servers this process launched, by pid. Popen.poll() is the only way to reap
# them that also keeps Popen from warning about a "still running" child later.
_children: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """A local service could not be started or stopped; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class ServiceStatus:
    """A service as ``up``/``down``/``status`` report it; ``note`` says what ``up`` did."""

    name: str
    running: bool
    pid: int | None
    address: str
    log_file: Path
    data_dir: Path
    note: str = ""


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    """True if something is listening on (or otherwise holding) the port.

    Binding is the test rather than connecting: it also catches sockets that are
    bound but not yet listening, and SO_REUSEADDR keeps TIME_WAIT leftovers of a
    server we just stopped from counting as "in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_owner(port: int) -> str | None:
    """'command line (pid N)' of the process listening on the port, if /proc lets us see it.

    Best effort, for error messages: a system PostgreSQL or Redis on the default
    port is the usual culprit and naming it saves a trip to `ss -ltnp`.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            # st == 0A is TCP_LISTEN; the local address ends in the hex port.
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return f"{_command_line(proc)} (pid {proc.name})"
        except OSError:
            continue
    return None


def _command_line(proc: Path, limit: int = 200) -> str:
    """The process's arguments joined by spaces (its short name for a kernel thread or a zombie)."""
    args = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    line = " ".join(arg.decode(errors="replace") for arg in args if arg)
    if not line:
        return (proc / "comm").read_text().strip()
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def telling_line(output: str, limit: int = 300) -> str:
    """The most telling line of a log or tool output: the last error-looking one, else the last one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return "no log output"
    markers = ("ERROR", "FATAL", "PANIC", "Exception", "Error", "error")
    return next((ln for ln in reversed(lines) if any(m in ln for m in markers)), lines[-1])[:limit]


def log_excerpt(path: Path, start: int = 0) -> str:
    """The most telling line of the last 64 KiB of a log file, looking no earlier than byte ``start``."""
    try:
        with path.open("rb") as f:
            f.seek(max(start, f.seek(0, os.SEEK_END) - 65536))
            return telling_line(f.read().decode(errors="replace"))
    except OSError:
        return "no log output"


def wait_for_port(port: int, timeout: float, host: str = LOCALHOST) -> bool:
    """Wait until a TCP connection to the port succeeds; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def find_free_port() -> int:
    """A port nothing listens on right now (the OS picks it, so races are unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class Service(ABC):
    """One server process owned by a stack home.

    Subclasses implement :meth:`start` (which may return before the server
    answers) and :meth:`_ready`; :meth:`wait_ready` and :meth:`stop` are shared.
    """

    name: str

    def __init__(self, home: Path, port: int) -> None:
        self.port = port
        self.data_dir = home / self.name
        self.log_file = self.data_dir / f"{self.name}.log"
        self.pid_file = self.data_dir / f"{self.name}.pid"
        # The directory the running server has as cwd; how we recognise it.
        self.workdir = self.data_dir

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def ports(self) -> dict[str, int]:
        """Every port the service binds, by role, for the pre-start check."""
        return {"port": self.port}

    @abstractmethod
    def start(self) -> None:
        """Launch the server (first-run setup included); may return before it is ready."""

    @abstractmethod
    def _ready(self) -> bool:
        """One quick readiness probe."""

    def pid(self) -> int | None:
        """Pid of this home's server, or None if it is not running."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not pid_alive(pid):
            return None
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")) != self.workdir.resolve():
                return None
        except OSError:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def check_ports(self) -> None:
        """Fail before launching anything if another process holds one of our ports."""
        for role, port in self.ports().items():
            if port_in_use(port):
                owner = port_owner(port)
                what = "port" if role == "port" else f"{role} port {port}"
                by = f": {owner}" if owner else ""
                raise self.error(f"{what} already in use by another process{by}")

    def wait_ready(self, timeout: float) -> None:
        """Block until the server answers; stop it and raise if it dies or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise self.error(f"process exited during start-up: {self.log_excerpt()}")
            if self._ready():
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise self.error(f"not ready after {timeout:.0f}s: {self.log_excerpt()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; returns once the process is gone."""
        pid = self.pid()
        if pid is None:
            return
        self._signal(pid, signal.SIGTERM)
        if not wait_gone(pid, timeout):
            self._signal(pid, signal.SIGKILL)
            if not wait_gone(pid, 10):
                raise StackError(f"{self.name} (pid {pid}) survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)

    def status(self, note: str = "") -> ServiceStatus:
        pid = self.pid()
        return ServiceStatus(
            name=self.name,
            running=pid is not None,
            pid=pid,
            address=self.address,
            log_file=self.log_file,
            data_dir=self.data_dir,
            note=note,
        )

    def error(self, reason: str) -> StackError:
        return StackError(f"{self.name} did not come up on {self.address}: {reason} (log: {self.log_file})")

    def log_excerpt(self) -> str:
        return log_excerpt(self.log_file)

    def _launch(self, argv: list[str]) -> None:
        """Start a server that stays in the foreground, detached from our session."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            # A new session keeps Ctrl-C in the terminal that ran `stack up` from killing it.
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
