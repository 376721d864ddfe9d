"""`make bench-peers`: the model service against the serving frameworks, one load, one run.

make bench-peers                                          # → docs/benchmarks/peers.{md,json,png}
python -m scripts.bench.peers --quick --out /tmp/peers    # smoke run: seconds per point
python -m scripts.bench.peers --quick --only mosec --out /tmp/peers   # one peer (and ours)
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from model_service.inference import available_cores
from scripts.bench.baseline_app import BaselineServer
from scripts.bench.benchmark import (
    PEERS_PAGE,
    LoadRunner,
    command_line,
    load_parser,
    log_outcome,
    register_bundle_in,
    review_texts,
    run_context,
    write_json,
)
from scripts.bench.load import write_bodies
from scripts.bench.peers.catalog import PEERS, Peer
from scripts.bench.peers.environment import PeerUnavailable, peer_python, requirements
from scripts.bench.peers.report import plot_peers, render_peers_readme
from scripts.bench.peers.servers import PeerServer
from scripts.bench.report import evaluate_peer_targets
from stack.parts import ModelServiceProcess
from training.build import repo_relative

log = logging.getLogger("bench.peers")

SCHEMA_VERSION = 1
CONCURRENCY = (1, 8, 64)
QUICK_CONCURRENCY = (8,)
PEER_READY_TIMEOUT_S = 240.0
PROBE_TIMEOUT_S = 30.0
OURS = "model_service"
OURS_BENTOML_PATH = "model_service_bentoml_path"
PER_REQUEST = "per_request"


@dataclass
class PeersOptions:
    bundle: Path
    out: Path
    data: Path
    duration_s: float
    warmup_s: float
    sample: int
    workers: int
    concurrency: tuple[int, ...]
    only: tuple[str, ...]
    quick: bool
    seed: int = 0


def kserve_v2_body(text: str) -> dict:
    """One text as Triton's KServe v2 JSON request: a [1, 1] BYTES tensor."""
    return {"inputs": [{"name": "texts", "shape": [1, 1], "datatype": "BYTES", "data": [text]}]}


# One text per request, as the model service takes it and in Triton's request shape.
BODIES: dict[str, Callable[[str], dict]] = {
    "classify": lambda text: {"texts": [text]},
    "kserve_v2": kserve_v2_body,
}


def request_bodies(texts: Sequence[str], work: Path) -> dict[str, Path]:
    """The wrk bodies file of each request shape, from the same texts."""
    return {
        shape: write_bodies(map(body, texts), work / f"{shape}.lua")
        for shape, body in BODIES.items()
    }


def probe(url: str, body: dict) -> str | None:
    """None when one request is answered 200, else why not: a server that is up but cannot
    answer would otherwise show as a very fast, all-failed sweep."""
    try:
        response = httpx.post(url, json=body, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as error:
        return f"does not answer: {error}"
    if response.status_code != 200:
        return f"answers {response.status_code}: {response.text[:240]}"
    return None


# The settings that put the model service back on BentoML's own request path.
BENTOML_PATH_ENV = {
    "MODEL_SERVICE_TRIM_REQUEST_PATH": "false",
    "MODEL_SERVICE_TRACE_REQUESTS": "true",
}


def ours(
    options: PeersOptions,
    store: tuple[Path, str],
    runner: LoadRunner,
    *,
    bentoml_path: bool = False,
) -> dict:
    """The model service as `make bench` serves it (adaptive batching, one worker per core) from
    `store` (its model store and tag); `bentoml_path`: with BentoML's own request path
    (model_service/request_path.py), the baseline of what the trimmed path gains."""
    home, tag = store
    changed = BENTOML_PATH_ENV if bentoml_path else {}
    env = {"MODEL_SERVICE_WORKERS": str(options.workers), **changed}
    with ModelServiceProcess(home, tag, env=env) as service:
        pids = {"model service": service.process.pid}
        label = "ours, BentoML's path" if bentoml_path else "ours"
        points = runner.sweep(f"{service.url}/classify", options.concurrency, pids, label)
    title = "model service (BentoML, adaptive batching)"
    if bentoml_path:
        title = "model service on BentoML's own request path (baseline)"
    return {
        "title": title,
        "layout": f"`MODEL_SERVICE_WORKERS={options.workers}`, one onnxruntime thread each; "
        "max batch 64; no batching window (a batch is what queued meanwhile)."
        + "".join(f" `{name}={value}`." for name, value in changed.items()),
        "points": points,
    }


def per_request(options: PeersOptions, runner: LoadRunner) -> dict:
    """The plain FastAPI per-request design `make bench` compares with (scripts/bench)."""
    with BaselineServer(options.bundle, options.workers) as baseline:
        pids = {"per-request app": baseline.process.pid}
        url = f"{baseline.url}/classify"
        points = runner.sweep(url, options.concurrency, pids, "per-request")
    return {
        "title": "per-request pipeline (FastAPI, no batching)",
        "layout": f"uvicorn with {options.workers} worker processes, transformers' pipeline per "
        "text.",
        "points": points,
    }


def peer(options: PeersOptions, framework: Peer, runners: dict[str, LoadRunner], text: str) -> dict:
    """One framework's sweep, or the reason it could not run here."""
    entry = {"title": framework.title, "layout": framework.layout}
    entry |= {"requirements": [], "points": None, "reason": None}
    try:
        entry["requirements"] = requirements(framework)
        python = peer_python(framework)
    except PeerUnavailable as error:
        entry["reason"] = str(error)
        log.warning("%s: %s", framework.key, error)
        return entry
    server = PeerServer(framework, python, options.bundle, options.workers, available_cores())
    try:
        server.start(PEER_READY_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as error:
        entry["reason"] = server.failure_reason(error)
        entry["log"] = str(server.log_path)
        log.warning("%s: %s (log: %s)", framework.key, entry["reason"], server.log_path)
        return entry
    try:
        if reason := probe(server.classify_url, BODIES[framework.body](text)):
            entry["reason"] = reason
            log.warning("%s: %s", framework.key, reason)
            return entry
        pids = {framework.key: server.process.pid}
        runner = runners[framework.body]
        url, levels = server.classify_url, options.concurrency
        entry["points"] = runner.sweep(url, levels, pids, framework.key)
    finally:
        server.stop()
    return entry


def run(options: PeersOptions, argv: Sequence[str]) -> dict:
    started = time.perf_counter()
    texts = review_texts(options.data, options.sample, options.seed)
    command = command_line(argv, "scripts.bench.peers", "bench-peers")
    results: dict = {
        "schema": SCHEMA_VERSION,
        **run_context(command, options.quick),
        "settings": {
            "duration_s": options.duration_s,
            "warmup_s": options.warmup_s,
            "workers": options.workers,
            "concurrency": list(options.concurrency),
        },
        "data": {"path": repo_relative(options.data), "texts": len(texts), "seed": options.seed},
        "designs": {},
    }
    designs = results["designs"]
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as work_dir:
        work = Path(work_dir)
        bodies = request_bodies(texts, work)
        runners = {body: LoadRunner(options, path) for body, path in bodies.items()}
        store = (work / "bentoml", register_bundle_in(work / "bentoml", options.bundle))
        designs[OURS] = ours(options, store, runners["classify"])
        designs[OURS_BENTOML_PATH] = ours(options, store, runners["classify"], bentoml_path=True)
        designs[PER_REQUEST] = per_request(options, runners["classify"])
        for framework in PEERS:
            if not options.only or framework.key in options.only:
                designs[framework.key] = peer(options, framework, runners, texts[0])
    results["targets"] = evaluate_peer_targets(
        designs, OURS, max(options.concurrency), not_peers={OURS_BENTOML_PATH}
    )
    results["ratio_vs_best_peer"] = results["targets"][0]["value"] if results["targets"] else None
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def write_outputs(results: dict, out: Path) -> Iterator[Path]:
    yield write_json(results, out / "peers.json")
    chart = plot_peers(results, out)
    yield chart
    readme = out / PEERS_PAGE
    readme.write_text(render_peers_readme(results, chart.name), encoding="utf-8")
    yield readme


def parse_args(argv: Sequence[str]) -> PeersOptions:
    parser = load_parser("python -m scripts.bench.peers", __doc__)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[p.key for p in PEERS],
        default=(),
        help="these peers only (ours and the per-request design always run)",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 s per point at concurrency 8 only")  # fmt: skip
    args = parser.parse_args(argv)
    return PeersOptions(
        bundle=args.bundle.resolve(),
        out=args.out,
        data=args.data,
        duration_s=2.0 if args.quick else args.duration,
        warmup_s=1.0 if args.quick else args.warmup,
        sample=200 if args.quick else args.sample,
        workers=args.workers,
        concurrency=QUICK_CONCURRENCY if args.quick else CONCURRENCY,
        only=tuple(args.only),
        quick=args.quick,
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("bench").setLevel(logging.INFO)
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    results = run(options, argv)
    log_outcome(write_outputs(results, options.out), results["targets"])
    return 0
