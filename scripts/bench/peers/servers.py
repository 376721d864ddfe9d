"""A peer's server as a process of the stack's harness, started from its own environment."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path

import psutil

from model_service.settings import settings as model_service_settings
from scripts.bench.peers.catalog import Peer
from stack.process import REPO_ROOT, ServerProcess

# The first exception a failed start logged, for the report: the last line of a traceback often
# names only the consequence (a load failure) of the cause logged before it.
# Triton logs its Python stub's tracebacks on one line, with `\n` escapes.
_EXCEPTION = re.compile(r"(?:\\n|\b)([A-Z]\w*(?:Error|Exception)): ([^\\\n]{1,240})")


class PeerServer(ServerProcess):
    """`python -m <peer module>` in the peer's environment, the repository on its PYTHONPATH.

    It gets the model service's layout: `workers` processes, cores ÷ workers onnxruntime threads
    each, and the model service's max batch size.
    """

    def __init__(self, peer: Peer, python: Path, bundle: Path, workers: int, cores: int) -> None:
        threads = max(1, cores // workers)
        super().__init__(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "BENCH_BUNDLE": str(Path(bundle).resolve()),
                "BENCH_WORKERS": str(workers),
                "BENCH_INTRA_OP_THREADS": str(threads),
                "BENCH_MAX_BATCH_SIZE": str(model_service_settings.max_batch_size),
                # The peers' own telemetry stays home: nothing leaves a benchmark machine.
                "RAY_USAGE_STATS_ENABLED": "0",
                "DO_NOT_TRACK": "1",
            }
        )
        self.env["BENCH_PORT"] = str(self.port)
        self.peer, self.python = peer, python
        self.name = f"bench-{peer.key}"
        self.ready_path = peer.ready_path

    def command(self) -> Sequence[str]:
        return [str(self.python), "-m", self.peer.module]

    @property
    def classify_url(self) -> str:
        return self.url + self.peer.classify_path

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the group, then whatever it started in sessions of its own (Ray's daemons)."""
        descendants = []
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                descendants = psutil.Process(self.process.pid).children(recursive=True)
        super().stop(timeout)
        for process in descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(descendants, timeout=5)

    def failure_reason(self, error: BaseException) -> str:
        """Why the server did not start, in one line."""
        log = self.log_tail(400)
        for sign, meaning in self.peer.known_failures:
            if sign in log:
                return f"does not run here: {meaning}"
        for match in _EXCEPTION.finditer(log):
            if "Traceback" not in match[2]:  # a wrapper whose message quotes the cause's traceback
                return f"did not start: {match[1]}: {match[2].strip()}"
        return f"did not start: {str(error).splitlines()[0]}"
