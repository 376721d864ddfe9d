"""The soaked stack: PostgreSQL, the model service and the gateway, the faults done to each, and
the processes whose memory is sampled."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from scripts.bench.benchmark import register_bundle_in
from stack.parts import GatewayProcess, ModelServiceProcess
from stack.postgres import ThrowawayPostgres

# Soak users write more than a person would; the write limit has tests of its own.
GATEWAY_ENV = {"GATEWAY_WRITE_LIMIT": ""}
PARTS = ("model-service", "gateway", "postgres")


@dataclass
class Fault:
    part: str
    how: str
    started_s: float
    recovered_s: float | None = None


@dataclass
class SoakStack:
    work: Path
    bundle: Path
    workers: int
    started: float = field(default_factory=time.monotonic)
    incarnations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    # Parts being restarted: their memory is not sampled until they are back.
    down: set[str] = field(default_factory=set)

    def now(self) -> float:
        return time.monotonic() - self.started

    @contextlib.contextmanager
    def running(self) -> Iterator[SoakStack]:
        self.postgres = ThrowawayPostgres().init()
        self.postgres.start()
        try:
            database_url = self.postgres.create_database()
            tag = register_bundle_in(self.work / "bentoml", self.bundle)
            env = {"MODEL_SERVICE_WORKERS": str(self.workers)}
            logs = self.work / "logs"
            self.model = ModelServiceProcess(
                self.work / "bentoml", tag, env=env, log_path=logs / "model-service.log"
            )
            self.gateway = GatewayProcess(
                database_url, self.model.url, env=GATEWAY_ENV, log_path=logs / "gateway.log"
            )
            self.model.start()
            try:
                self.gateway.start()
                self.database_url = database_url
                self.started = time.monotonic()
                yield self
            finally:
                self.gateway.stop()
                self.model.stop()
        finally:
            self.postgres.destroy()

    # ------------------------------------------------------------ faults

    def kill_model_service(self) -> Fault:
        fault = self._begin("model-service", "SIGKILL, restart")
        self.model.kill()
        time.sleep(2)
        self.model.start()
        return self._recovered(fault)

    def restart_postgres(self) -> Fault:
        fault = self._begin("postgres", "pg_ctl stop -m fast, 5 s down, start")
        self.postgres.stop("fast")
        time.sleep(5)
        self.postgres.start()
        self.postgres.wait_ready()
        return self._recovered(fault)

    def kill_gateway(self) -> Fault:
        fault = self._begin("gateway", "SIGKILL, restart")
        self.gateway.kill()
        time.sleep(2)
        self.gateway.start()
        return self._recovered(fault)

    def _begin(self, part: str, how: str) -> Fault:
        self.down.add(part)
        return Fault(part, how, self.now())

    def _recovered(self, fault: Fault) -> Fault:
        fault.recovered_s = self.now()
        self.incarnations[fault.part] += 1
        self.down.discard(fault.part)
        return fault

    # ------------------------------------------------------------ processes

    def processes(self) -> dict[str, list[psutil.Process]]:
        """Each part's processes now: its main process and every process it started."""
        mains = {
            "model-service": self.model.process.pid,
            "gateway": self.gateway.process.pid,
            "postgres": self._postmaster_pid(),
        }
        found = {}
        for part, pid in mains.items():
            with contextlib.suppress(psutil.NoSuchProcess, TypeError):
                main = psutil.Process(pid)
                found[part] = [main, *main.children(recursive=True)]
        return found

    def _postmaster_pid(self) -> int | None:
        pid_file = self.postgres.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pid_file.read_text().splitlines()[0])
        return None
