"""The peers: each framework's pinned version, its server module and the layout it is given.

The one place a peer's version is pinned. Each peer runs in a virtual environment of its own
(scripts/bench/peers/environment.py), so the project's pins never depend on a peer's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    key: str
    title: str
    # The framework's pins; onnxruntime, tokenizers and numpy come from constraints.txt unless
    # the framework needs another numpy.
    requirements: tuple[str, ...]
    module: str
    # How the framework's layout matches ours (workers, threads, batch size, batching window).
    layout: str
    ready_path: str = "/health"
    classify_path: str = "/classify"
    # Triton speaks the KServe v2 protocol only: the same texts, in its request shape.
    body: str = "classify"
    numpy: str | None = None
    # Causes recognised in a failed start's log: a text it contains → what it means.
    known_failures: tuple[tuple[str, str], ...] = ()


PEERS = (
    Peer(
        key="ray_serve",
        title="Ray Serve (`@serve.batch`)",
        requirements=("ray[serve]==2.60.0",),
        module="scripts.bench.peers.ray_serve_app",
        layout="2 replicas (one actor process per core, `num_cpus=1`) behind Ray's HTTP proxy "
        "actor; `@serve.batch(max_batch_size=64, batch_wait_timeout_s=0)`; "
        "`max_ongoing_requests` raised to 256 (its default of 5 would cap a replica's batch).",
    ),
    Peer(
        key="mosec",
        title="Mosec (Rust front end, Python workers)",
        requirements=("mosec==0.9.8",),
        module="scripts.bench.peers.mosec_app",
        ready_path="/",
        layout="one inference stage with 2 worker processes; `max_batch_size=64`, "
        "`max_wait_time=1` ms (its smallest: 0 means its default, 10 ms); JSON in and out.",
    ),
    Peer(
        key="litserve",
        title="LitServe",
        requirements=("litserve==0.2.19",),
        module="scripts.bench.peers.litserve_app",
        layout="`accelerator='cpu'`, `workers_per_device=2` (2 inference processes) behind one "
        "uvicorn API process; `max_batch_size=64`, `batch_timeout=0`.",
    ),
    Peer(
        key="pytriton",
        title="PyTriton (Triton's dynamic batcher)",
        requirements=("nvidia-pytriton==0.7.0",),
        module="scripts.bench.peers.pytriton_app",
        layout="Triton's C++ HTTP front end, 2 model instances (inference callables run in "
        "threads of the one serving Python process, PyTriton's design); "
        "`DynamicBatcher(max_queue_delay_microseconds=0)`, `max_batch_size=64`; "
        "requests in Triton's KServe v2 JSON.",
        ready_path="/v2/models/sentiment/ready",
        classify_path="/v2/models/sentiment/infer",
        body="kserve_v2",
        numpy="numpy==1.26.4",  # nvidia-pytriton 0.7.0 requires numpy < 2
        known_failures=(
            (
                "object has no attribute '_recursion_count'",
                "Triton starts without a GPU, but its Python-backend stub (built into the wheel "
                "for an older Python 3.11) fails on this interpreter's standard library "
                "(Python 3.11.6+: `'_thread.RLock' object has no attribute '_recursion_count'`, "
                "pytriton issue #51), so no model instance loads",
            ),
        ),
    ),
)
