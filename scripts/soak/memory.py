"""Memory of each part over the soak, summed over its processes: private memory, and shared apart.

Private memory is the proportional set size (PSS) of the processes' private mappings: heap,
stacks, code, copy-on-write pages a fork still shares with its parent split between them. That is
what a leak grows, and what the verdict judges.

Shared mappings (PostgreSQL's shared buffers above all) are a segment of fixed size made once at
start: its touched pages grow as the cache fills with a growing database, up to that size and
never past it. Counted into one figure it reads as growth; it is sampled apart, with its size.
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
    mib: float  # private mappings' PSS
    shared_mib: float = 0.0  # shared mappings' PSS: the pages of them touched
    shared_size_mib: float = 0.0  # the shared segments' size: what the touched pages are bound by


@dataclass(frozen=True)
class Footprint:
    private_mib: float
    shared_mib: float
    shared_size_mib: float


def footprint(processes: list[psutil.Process]) -> Footprint:
    private = shared = 0
    segments: dict[str, int] = {}
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for mapping in process.memory_maps(grouped=False):
                if mapping.perms.endswith("s"):
                    shared += mapping.pss
                    # A segment is mapped by every process of the part: count its size once.
                    segments[f"{mapping.path}:{mapping.size}"] = mapping.size
                else:
                    private += mapping.pss
    return Footprint(private / 2**20, shared / 2**20, sum(segments.values()) / 2**20)


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
            found = footprint(processes)
            self.samples.append(
                Sample(
                    t_s,
                    part,
                    self.stack.incarnations[part],
                    len(processes),
                    round(found.private_mib, 1),
                    round(found.shared_mib, 1),
                    round(found.shared_size_mib, 1),
                )
            )

    def stop(self) -> None:
        self._stopping.set()
        self.join(30)
