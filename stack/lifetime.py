"""`python -m stack.lifetime PARENT_PID COMMAND...`: runs COMMAND, which gets SIGKILL when the
thread that started it exits, however it exits; it exits at once if PARENT_PID is not its parent.

A supervisor's parts run in sessions of their own (a Ctrl-C meant for one must not reach the
others), so a supervisor killed without a shutdown (SIGKILL, the OOM killer) would leave them
serving on their ports. The parent-death signal is set here, between fork and exec, rather than in
a `preexec_fn`, which is unsafe in a process with threads; it survives the exec of COMMAND.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def command_tied_to_this_thread(command: list[str]) -> list[str]:
    """`command`, run so as to die with the thread that starts it (Linux; elsewhere unchanged)."""
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-m", "stack.lifetime", str(os.getpid()), *command]


def main(argv: list[str]) -> None:
    parent, *command = argv
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The starter may have died before the prctl: then no signal would ever come.
    if os.getppid() != int(parent):
        sys.exit(f"the process that started {command[0]} (pid {parent}) is gone; not starting it")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
