"""Each worker dies with the `bentoml serve` process that started it, however that process dies.

BentoML's arbiter (circus) starts every worker in a session of its own and hands it the listening
socket, and BentoML 1.4 has no setting that ties a worker to the arbiter: killed without a
shutdown (SIGKILL, the OOM killer), the arbiter would leave its workers serving on the port, and a
restart would fail with "Address already in use". The kernel's parent-death signal closes that gap.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

logger = logging.getLogger(__name__)

# The arbiter's pid, exported before it spawns workers (they inherit its environment), so a
# worker can tell whether the process that started it is still its parent.
ARBITER_PID = "MODEL_SERVICE_ARBITER_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def remember_arbiter() -> None:
    """In the arbiter, before its workers start: its pid, for them to check against."""
    os.environ[ARBITER_PID] = str(os.getpid())


def die_with_arbiter() -> None:
    """In a worker: SIGKILL when its parent exits; exits at once if that parent is already gone.

    The signal follows the thread that forked the worker, which is the arbiter's main thread
    (its event loop spawns and respawns workers).
    """
    if not sys.platform.startswith("linux"):
        logger.info("workers not tied to the arbiter: no parent-death signal on %s", sys.platform)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    expected = os.environ.get(ARBITER_PID)
    # The arbiter may have died between forking this worker and the prctl above: the worker was
    # then handed to another parent, and no signal will come.
    if expected is not None and os.getppid() != int(expected):
        logger.error(
            "the bentoml serve process (pid %s) that started this worker is gone; exiting", expected
        )
        os._exit(1)
