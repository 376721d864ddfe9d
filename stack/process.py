"""A server subprocess: its port, its log file, its readiness check; stopped with its group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from stack.lifetime import command_tied_to_this_thread
from stack.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """Runs `command` (which may use `self.port`) from the repository root in its own process group.

    `port` defaults to a free loopback port. Output goes to `log_path` (truncated here) or to a
    temp file made at launch; its tail is part of every start failure. `stop()` signals the whole
    group; what a server starts in sessions of its own (BentoML's workers) must die with it.
    """

    name = "server"
    ready_path = "/"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_bytes(b"")
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def launch(self, *, die_with_this_thread: bool = False) -> ServerProcess:
        """Starts the process without waiting for it to be ready.

        `die_with_this_thread`: SIGKILLed by the kernel when the calling thread exits, however it
        exits (Linux), so that a supervisor killed without a shutdown leaves no part behind. Only
        for a thread that lives as long as the server should: a supervisor's main thread.
        """
        if self.log_path is None:
            self.log_path = Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")[1])
        command = list(self.command())
        if die_with_this_thread:
            command = command_tied_to_this_thread(command)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def start(self, ready_timeout: float = 120.0) -> ServerProcess:
        self.launch()
        try:
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until `ready_path` answers 200; fails early, with the log, if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the group, then SIGKILL to whatever of it is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self._signal_group(signal.SIGKILL)
        self.process.wait(5)

    def kill(self) -> None:
        """SIGKILL to the server's own process alone, as a crash or the OOM killer would: no
        shutdown, and no signal to what it started, which must die with it by itself (BentoML's
        workers, in sessions of their own, do: model_service/lifetime.py)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(5)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None:
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
