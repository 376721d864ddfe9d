"""Memory of each part over the soak: the proportional set size (PSS) summed over its processes.

PSS rather than RSS: PostgreSQL's backends and BentoML's workers share pages (shared buffers, the
model's weights), and RSS would count each shared page once per process that touched it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import psutil

from scripts.soak.stack import SoakStack


@dataclass(frozen=True)
class Sample:
    t_s: float
    part: str
    incarnation: int
    processes: int
    mib: float


def footprint_mib(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = process.memory_full_info()
            total += getattr(info, "pss", info.rss)
    return total / 2**20


class MemorySampler(threading.Thread):
    """Every `interval_s`, one sample per part, until `stop()`."""

    def __init__(self, stack: SoakStack, interval_s: float = 10.0) -> None:
        super().__init__(daemon=True, name="memory-sampler")
        self.stack = stack
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        t_s = self.stack.now()
        for part, processes in self.stack.processes().items():
            if part in self.stack.down:
                continue
            self.samples.append(
                Sample(
                    t_s,
                    part,
                    self.stack.incarnations[part],
                    len(processes),
                    round(footprint_mib(processes), 1),
                )
            )

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)
