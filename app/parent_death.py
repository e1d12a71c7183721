"""Run a command that cannot outlive the process that started it: ``python -m app.parent_death PPID CMD...``.

`lookout up` runs the collector under gunicorn in its own processes. If `lookout up`
dies without cleaning up (SIGKILL, the OOM killer), an orphaned gunicorn would keep
the collector's port and the next `lookout up` could not start. Linux's
PR_SET_PDEATHSIG makes the kernel send a signal to this process when its parent
dies; it survives the exec below, so the gunicorn arbiter gets SIGTERM and stops
its workers gracefully. This wrapper exists because setting it through Popen's
``preexec_fn`` is not safe in a process that already runs threads.

The kernel ties the signal to the *thread* that forked this process, so the
parent must start it from a thread that lives as long as the parent (the main
thread). Standard library only, so the wrapper starts in milliseconds.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent (thread) exits (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: python -m app.parent_death PARENT_PID COMMAND [ARG...]", file=sys.stderr)
        return 2
    # Only Linux has the signal; elsewhere (a developer's macOS) the command runs and can outlive a killed parent.
    if sys.platform.startswith("linux"):
        die_with_parent()
    # The parent may have died between our fork and the prctl above; the kernel would then never signal us.
    if os.getppid() != int(argv[0]):
        print("app.parent_death: the parent exited before the command started; not starting it", file=sys.stderr)
        return 1
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
