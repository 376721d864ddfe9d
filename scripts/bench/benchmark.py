"""Benchmark the serving stack against its in-process ceiling and the per-request design.

make bench                                      # the default bundle, results in docs/benchmarks/
python -m scripts.bench --bundle DIR --out DIR  # another bundle, results elsewhere
python -m scripts.bench --quick --out /tmp/bench  # a smoke run of every section (seconds each)
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Protocol

import httpx
import psutil

from model_service.inference import SentimentModel, available_cores, read_card
from scripts.bench.baseline_app import BaselineServer
from scripts.bench.load import run_wrk, write_bodies
from scripts.bench.report import evaluate_targets, plot_charts, render_readme
from stack.parts import MACHINE_HEADERS, GatewayProcess, ModelServiceProcess
from stack.postgres import ThrowawayPostgres
from stack.process import REPO_ROOT
from training.build import (
    cpu_flags,
    export_fp32,
    fp32_twin,
    fuse_graph,
    load_rating_head,
    repo_relative,
    single_text_latency,
)
from training.data import DEFAULT_DATA_DIR, read_reviews
from training.evaluate import evaluate
from training.ngram_head import NgramHead

log = logging.getLogger("bench")

SCHEMA_VERSION = 1
BATCH_SIZES = (1, 8, 32, 64)
SERVED_CONCURRENCY = (1, 8, 32, 64, 128)
BASELINE_CONCURRENCY = (1, 64)
LIST_SIZE = 32
LIST_CONCURRENCY = (1, 8)
GATEWAY_CONCURRENCY = 32
GATEWAY_SETTLE_S = 3.0
# In-process runs: time for the processes to load the model, warm-up before each batch size.
IN_PROCESS_LOAD_S = 6.0
IN_PROCESS_WARMUP_S = 1.0
SETTLE_S = 1.0
# The hand-written analysis beside the generated README, linked from it when present.
FINDINGS = "FINDINGS.md"
# The peers' page (`make bench-peers`), linked when present.
PEERS_PAGE = "peers.md"
PACKAGES = ("bentoml", "onnxruntime", "tokenizers", "transformers", "optimum-onnx", "optimum",
            "torch", "fastapi", "uvicorn", "sqlalchemy", "psycopg2-binary", "numpy")  # fmt: skip


@dataclass
class BenchOptions:
    bundle: Path
    out: Path
    data: Path
    fp32: Path | None
    duration_s: float
    warmup_s: float
    in_process_s: float
    sample: int
    latency_texts: int
    eval_limit: int | None
    workers: int
    quick: bool
    seed: int = 0


# ---------------------------------------------------------------- review texts


def review_texts(path: Path, size: int, seed: int) -> list[str]:
    """A seeded random sample of the split's non-blank review texts, in their real length mix."""
    texts = [review.text for review in read_reviews(path) if review.text.strip()]
    return random.Random(seed).sample(texts, min(size, len(texts)))


def chunks(texts: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive lists of `size` texts (the last, shorter one dropped)."""
    return [list(texts[i : i + size]) for i in range(0, len(texts) - size + 1, size)]


# ---------------------------------------------------------------- in process


def texts_per_second(
    model: SentimentModel, texts: Sequence[str], batch: int, seconds: float
) -> dict:
    """Predict consecutive batches of `batch` texts for about `seconds`; texts/s and ms/batch."""
    batches = chunks(texts, batch) or [list(texts)]
    done, count, started = 0, 0, time.perf_counter()
    while True:  # at least one batch, so that the figures are defined
        model.predict(batches[count % len(batches)])
        done += len(batches[count % len(batches)])
        count += 1
        if (elapsed := time.perf_counter() - started) >= seconds:
            break
    return {
        "batch": batch,
        "texts": done,
        "seconds": round(elapsed, 2),
        "texts_per_s": round(done / elapsed, 1),
        "ms_per_batch": round(elapsed / count * 1000, 3),
    }


def in_process(options: BenchOptions, texts: Sequence[str]) -> dict:
    """The ceiling: the inference module without HTTP, in two layouts of the machine's cores.

    As served (`workers` processes side by side, cores ÷ workers onnxruntime threads each), and
    one process with a thread per core. Per batch size the better layout is the ceiling.
    """
    cores = available_cores()
    shapes = {(options.workers, max(1, cores // options.workers)), (1, cores)}
    layouts = [
        {"processes": processes, "intra_op_threads": threads}
        | {"points": _in_processes(options, texts, processes, threads)}
        for processes, threads in sorted(shapes, reverse=True)
    ]
    ceiling = [
        max((layout["points"][i] for layout in layouts), key=lambda p: p["texts_per_s"])
        for i in range(len(BATCH_SIZES))
    ]
    for point in ceiling:
        log.info("in process, batch %d: %.0f texts/s", point["batch"], point["texts_per_s"])
    return {"layouts": layouts, "points": ceiling}


def _in_processes(
    options: BenchOptions, texts: Sequence[str], processes: int, threads: int
) -> list[dict]:
    """Each batch size measured in `processes` processes at once, on one shared schedule."""
    step = options.in_process_s + IN_PROCESS_WARMUP_S
    start = time.time() + IN_PROCESS_LOAD_S
    schedule = [(batch, start + i * step) for i, batch in enumerate(BATCH_SIZES)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        runs = [
            pool.submit(_scheduled_run, str(options.bundle), threads, list(texts), schedule,
                        options.in_process_s)
            for _ in range(processes)
        ]  # fmt: skip
        per_process = [run.result() for run in runs]
    points = []
    for index, batch in enumerate(BATCH_SIZES):
        parts = [runs_of_one[index] for runs_of_one in per_process]
        seconds = max(part["seconds"] for part in parts)
        done = sum(part["texts"] for part in parts)
        points.append(
            {
                "batch": batch,
                "processes": processes,
                "intra_op_threads": threads,
                "texts": done,
                "seconds": seconds,
                "texts_per_s": round(done / seconds, 1),
                "ms_per_batch": round(statistics.mean(p["ms_per_batch"] for p in parts), 3),
            }
        )
    return points


def _scheduled_run(
    bundle: str, threads: int, texts: list[str], schedule: list[tuple[int, float]], seconds: float
) -> list[dict]:
    """In a worker process: load the model, then for each (batch, start time) warm up until the
    start and measure for `seconds`, so that all processes measure the same interval."""
    model = SentimentModel.load(bundle, intra_op_threads=threads)
    model.warm_up()
    points = []
    for batch, start_at in schedule:
        time.sleep(max(0.0, start_at - IN_PROCESS_WARMUP_S - time.time()))
        texts_per_second(model, texts, batch, max(0.0, start_at - time.time()))
        points.append(texts_per_second(model, texts, batch, seconds))
    return points


# ---------------------------------------------------------------- over HTTP


class LoadDurations(Protocol):
    """What a load point needs of a run's options."""

    duration_s: float
    warmup_s: float


class LoadRunner:
    """Warm-up then measured wrk points against one URL, with the run's durations."""

    def __init__(self, options: LoadDurations, bodies_file: Path, texts_per_request: int = 1):
        self.options = options
        self.bodies_file = bodies_file
        self.texts_per_request = texts_per_request

    def warm(self, url: str, concurrency: int) -> None:
        run_wrk(url, self.bodies_file, concurrency=concurrency, duration_s=self.options.warmup_s)
        self.settle()

    @staticmethod
    def settle() -> None:
        """Let the server finish what wrk left in flight: a server does not drop a request when its
        client hangs up, and the leftovers would count against the next point's concurrency."""
        time.sleep(SETTLE_S)

    def measure(self, url: str, concurrency: int, servers: Mapping[str, int], label: str) -> dict:
        point = run_wrk(
            url,
            self.bodies_file,
            concurrency=concurrency,
            duration_s=self.options.duration_s,
            texts_per_request=self.texts_per_request,
            servers=servers,
        )
        self.settle()
        log.info(
            "%s, concurrency %d: %.0f texts/s, p50 %.1f ms, p99 %.1f ms, %d failed, "
            "generator %.0f%% of the machine",
            label, concurrency, point["texts_per_s"], point["latency_ms"]["p50"],
            point["latency_ms"]["p99"], point["failed"], point["cpu_share"]["generator"] * 100,
        )  # fmt: skip
        return point

    def point(self, url: str, concurrency: int, servers: Mapping[str, int], label: str) -> dict:
        self.warm(url, concurrency)
        return self.measure(url, concurrency, servers, label)

    def sweep(
        self, url: str, levels: Sequence[int], servers: Mapping[str, int], label: str
    ) -> list[dict]:
        return [self.point(url, concurrency, servers, label) for concurrency in levels]


def register_bundle_in(home: Path, bundle: Path) -> str:
    """Register `bundle` in a fresh model store at `home` (the served copy); returns its tag."""
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "training", "register", str(bundle)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"registering {bundle} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])["tag"]


def served(options: BenchOptions, work: Path, texts: Sequence[str]) -> dict:
    """The model service (batching on, then off), lists of texts, the gateway, the baseline."""
    single = write_bodies(({"texts": [text]} for text in texts), work / "single.lua")
    lists = write_bodies(({"texts": c} for c in chunks(texts, LIST_SIZE)), work / "lists.lua")
    singles, list_runner = LoadRunner(options, single), LoadRunner(options, lists, LIST_SIZE)
    home = work / "bentoml"
    tag = register_bundle_in(home, options.bundle)
    # One worker process per core for every server: a Python process serves HTTP on one core at a
    # time, and this small model gains nothing from a second onnxruntime thread.
    workers = {"MODEL_SERVICE_WORKERS": str(options.workers)}
    results: dict = {"model_tag": tag, "workers": options.workers}

    with ModelServiceProcess(home, tag, env=workers) as service:
        url, pids = f"{service.url}/classify", {"model service": service.process.pid}
        results["batching"] = singles.sweep(url, SERVED_CONCURRENCY, pids, "batching on")
        results["lists"] = list_runner.sweep(url, LIST_CONCURRENCY, pids, f"lists of {LIST_SIZE}")
        results["gateway"] = gateway(options, work, texts, service)
        # The same bundle as the candidate in shadow: what mirroring every text costs the live path.
        with ModelServiceProcess(home, tag, env=workers) as candidate:
            results["gateway_shadow"] = gateway(options, work, texts, service, candidate)

    with ModelServiceProcess(
        home, tag, env=workers | {"MODEL_SERVICE_BATCHING": "false"}
    ) as service:
        url, pids = f"{service.url}/classify", {"model service": service.process.pid}
        results["no_batching"] = singles.sweep(url, SERVED_CONCURRENCY, pids, "batching off")

    with BaselineServer(options.bundle, options.workers) as baseline:
        url, pids = f"{baseline.url}/classify", {"per-request app": baseline.process.pid}
        results["baseline"] = singles.sweep(url, BASELINE_CONCURRENCY, pids, "per-request")
    return results


def gateway(
    options: BenchOptions,
    work: Path,
    texts: Sequence[str],
    service: ModelServiceProcess,
    candidate: ModelServiceProcess | None = None,
) -> dict:
    """POST /reviews/ end to end (stored, scored inline, stored again) on a throwaway PostgreSQL;
    with `candidate`, every scored text also goes to it in shadow."""
    from sqlalchemy import create_engine, text

    contents = [t for t in texts if 5 <= len(t.strip()) <= 2000]  # the gateway's content rule
    with ExitStack() as stack:
        postgres = ThrowawayPostgres().init()
        stack.callback(postgres.destroy)
        postgres.start()
        postgres.wait_ready()
        database_url = postgres.create_database("bench")
        # The background scorer stays off: a review counts as scored only if its own request did it.
        # All the load comes from one machine client: its write limit would answer 429.
        env = {"SCORER_ENABLED": "false", "GATEWAY_WRITE_LIMIT": ""}
        if candidate is not None:
            env["SHADOW_MODEL_SERVICE_URL"] = candidate.url
        gateway_server = stack.enter_context(GatewayProcess(database_url, service.url, env))
        movie = httpx.post(
            f"{gateway_server.url}/movies/",
            json={"title": "Benchmark"},
            headers=MACHINE_HEADERS,
            timeout=30,
        )
        movie.raise_for_status()
        movie_id = movie.json()["id"]
        bodies = ({"movie_id": movie_id, "author": "bench", "content": c} for c in contents)
        reviews = write_bodies(bodies, work / "reviews.lua", MACHINE_HEADERS)
        runner = LoadRunner(options, reviews)
        engine = create_engine(database_url)
        stack.callback(engine.dispose)
        count_sql = text("SELECT status, count(*) FROM reviews WHERE id > :after GROUP BY status")
        shadowed_sql = text("SELECT count(*) FROM candidate_predictions WHERE review_id > :after")
        url = f"{gateway_server.url}/reviews/"
        runner.warm(url, GATEWAY_CONCURRENCY)
        with engine.connect() as connection:
            last_id = connection.execute(text("SELECT coalesce(max(id), 0) FROM reviews")).scalar()
        postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
        pids = {
            "gateway": gateway_server.process.pid,
            "model service": service.process.pid,
            "postgresql": postmaster,
        }
        if candidate is not None:
            pids["candidate"] = candidate.process.pid
        label = "gateway, shadow on" if candidate is not None else "gateway"
        point = runner.measure(url, GATEWAY_CONCURRENCY, pids, label)
        # Requests still in flight when wrk stopped finish scoring now; then count. Only the
        # measured reviews: the warm-up's were written before last_id was read.
        time.sleep(GATEWAY_SETTLE_S)
        with engine.connect() as connection:
            statuses = dict(connection.execute(count_sql, {"after": last_id}).all())
            shadowed = connection.execute(shadowed_sql, {"after": last_id}).scalar()
    scored_share = statuses.get("scored", 0) / max(sum(statuses.values()), 1)
    return point | {
        "reviews_by_status": statuses,
        "scored_per_s": round(point["requests_per_s"] * scored_share, 1),
        "mean_chars": _mean_chars(contents),
        **({"shadow_predictions": shadowed} if candidate is not None else {}),
    }


# ---------------------------------------------------------------- INT8 vs FP32


def fp32_bundle(options: BenchOptions, work: Path) -> tuple[Path | None, str]:
    """A copy of the bundle with its FP32 model: from --fp32, or re-exported from the card's source.

    The bundle ships INT8 only; its FP32 twin is the checkpoint it was built from, exported and
    fused as the build does (label map and tokenizer are the bundle's, unchanged by quantization).
    """
    card = read_card(options.bundle)
    source = options.fp32 or _local_source(card.get("source"))
    if source is None:
        return None, "no FP32 model: pass --fp32 (an FP32 bundle or the training checkpoint)"
    if (source / "model.onnx").is_file() and (source / "card.json").is_file():
        fp32_model, origin = source / "model.onnx", f"FP32 bundle {source}"
    else:
        head_dir = _local_source(card.get("ngram_head", {}).get("source"))
        if "ngram_head" in card and head_dir is None:
            missing = card["ngram_head"]["source"]
            return None, f"no FP32 model: the n-gram head {missing} is not here"
        # The FP32 twin the build compared with: exported, fused the same way, the same head.
        fused, fusion = fuse_graph(export_fp32(str(source), work / "fp32-export"), work / "fused")
        ngram_head = NgramHead.load(head_dir) if head_dir else None
        rating_head, calibration = load_rating_head(str(source), ngram_head)
        fp32_model, _ = fp32_twin(fused, ngram_head, rating_head, calibration)
        steps = (f", {fusion}" if fusion else "") + (
            f", n-gram head {repo_relative(head_dir)}" if head_dir else ""
        )
        origin = f"Optimum ONNX export of the checkpoint {repo_relative(source)}{steps}"
    target = work / "fp32-bundle"
    shutil.copytree(options.bundle, target)
    shutil.copyfile(fp32_model, target / "model.onnx")
    return target, origin


def _local_source(source: str | None) -> Path | None:
    if not source:
        return None
    path = Path(source) if Path(source).is_absolute() else REPO_ROOT / source
    return path if path.is_dir() else None


def int8_vs_fp32(options: BenchOptions, work: Path, texts: Sequence[str]) -> dict:
    """Single-text latency, batch-64 throughput, file size and test-split accuracy of both."""
    card = read_card(options.bundle)
    fp32_dir, origin = fp32_bundle(options, work)
    result: dict = {"fp32_from": origin, "card": _card_figures(card)}
    if fp32_dir is None:
        log.warning("INT8 vs FP32 from the bundle's card only: %s", origin)
        return result
    dirs = {"int8": options.bundle, "fp32": fp32_dir}
    result["size_bytes"] = {key: (d / "model.onnx").stat().st_size for key, d in dirs.items()}
    result["single_text_latency"] = single_text_latency(
        fp32_dir, options.bundle, texts[: options.latency_texts], threads=1
    )
    result["batch64"] = {}
    for key, directory in dirs.items():
        model = SentimentModel.load(directory, intra_op_threads=available_cores())
        model.warm_up()
        result["batch64"][key] = texts_per_second(model, texts, 64, options.in_process_s)
    report = evaluate(
        [str(options.bundle), str(fp32_dir)], options.data, limit=options.eval_limit, progress=False
    )
    metric = "accuracy" if card.get("neutral_threshold") is None else "binary_accuracy"
    int8, fp32 = report["models"]
    result["accuracy"] = {
        "data": str(options.data.name),
        "n": int8["n"],
        "metric": metric,
        "agreement": report["agreement"],
        **{
            f"{key}_{name}": model[name]
            for key, model in (("int8", int8), ("fp32", fp32))
            for name in ("accuracy", "binary_accuracy", "macro_f1")
        },
    }
    log.info("INT8 vs FP32: %s", json.dumps(result["single_text_latency"]))
    return result


def _card_figures(card: dict) -> dict:
    return {key: card.get(key) for key in ("size_bytes", "latency_ms", "parity", "quantization")}


# ---------------------------------------------------------------- the run


def machine() -> dict:
    """The CPU, cores and memory the figures were measured on."""
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu_model": cpu_model,
        "cores_available": available_cores(),
        "logical_cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        # What INT8 kernels can use: VNNI (and AMX) run full-range INT8 dot products.
        "int8_instructions": sorted(cpu_flags() & {"avx2", "avx512f", "avx512_vnni", "amx_int8"}),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    found["wrk"] = (wrk.stdout + wrk.stderr).split("Copyright")[0].strip()
    return found


def git_state() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def command_line(argv: Sequence[str], module: str = "scripts.bench", target: str = "bench") -> str:
    command = shlex.join(["python", "-m", module, *argv])
    return f"make {target} ({command})" if os.environ.get("MAKELEVEL") else command


def run_context(command: str, quick: bool) -> dict:
    """When, by what command, at which commit, on which machine and versions a run measured."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "quick": quick,
        "git": git_state(),
        "machine": machine(),
        "versions": versions(),
    }


def write_json(results: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _mean_chars(texts: Sequence[str]) -> float:
    return round(sum(map(len, texts)) / max(len(texts), 1), 1)


def _timed(label: str, step: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    result = step()
    log.info("%s took %.0f s", label, time.perf_counter() - started)
    return result


def run(options: BenchOptions, argv: Sequence[str]) -> dict:
    """Every section in one run; the result object that results.json holds."""
    started = time.perf_counter()
    card = read_card(options.bundle)
    texts = review_texts(options.data, options.sample, options.seed)
    results: dict = {
        "schema": SCHEMA_VERSION,
        **run_context(command_line(argv), options.quick),
        "bundle": {
            "path": repo_relative(options.bundle),
            "tag": f"{card['name']}:{card['version']}",
            "max_tokens": card["max_tokens"],
            "labels": card["labels"],
            "source": card.get("source"),
        },
        "settings": {
            "duration_s": options.duration_s,
            "warmup_s": options.warmup_s,
            "in_process_s": options.in_process_s,
            "load_generator": "wrk, 1 thread, closed loop, keep-alive connections",
        },
        "data": {
            "path": repo_relative(options.data),
            "texts": len(texts),
            "mean_chars": _mean_chars(texts),
            "seed": options.seed,
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as work_dir:
        work = Path(work_dir)
        results["in_process"] = _timed("in process", lambda: in_process(options, texts))
        results["served"] = _timed("served", lambda: served(options, work, texts))
        results["int8_vs_fp32"] = _timed("INT8 vs FP32", lambda: int8_vs_fp32(options, work, texts))
    results["targets"] = evaluate_targets(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def write_outputs(results: dict, out: Path) -> Iterator[Path]:
    yield write_json(results, out / "results.json")
    charts = plot_charts(results, out)
    yield from charts
    readme = out / "README.md"
    findings = FINDINGS if (out / FINDINGS).is_file() else None
    peers = PEERS_PAGE if (out / PEERS_PAGE).is_file() else None
    page = render_readme(results, [c.name for c in charts], findings, peers)
    readme.write_text(page, encoding="utf-8")
    yield readme


def load_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every load benchmark takes: what to serve, where to write, how long."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, default=REPO_ROOT / "models" / "korean-sentiment")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "test.tsv.gz")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per load point")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each")
    parser.add_argument("--sample", type=int, default=2000, help="review texts in the load mix")
    parser.add_argument(
        "--workers",
        type=int,
        default=available_cores(),
        help="worker processes of each server (default: one per core)",
    )
    return parser


def parse_args(argv: Sequence[str]) -> BenchOptions:
    parser = load_parser("python -m scripts.bench", __doc__)
    parser.add_argument(
        "--fp32", type=Path, help="FP32 bundle or checkpoint dir (default: the card's source)"
    )
    parser.add_argument("--in-process", type=float, default=5.0, help="seconds per batch size")
    parser.add_argument("--latency-texts", type=int, default=300)
    parser.add_argument("--eval-limit", type=int, help="only the first N test reviews")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1-2 s per point")
    args = parser.parse_args(argv)
    quick = args.quick
    return BenchOptions(
        bundle=args.bundle.resolve(),
        out=args.out,
        data=args.data,
        fp32=args.fp32.resolve() if args.fp32 else None,
        duration_s=2.0 if quick else args.duration,
        warmup_s=1.0 if quick else args.warmup,
        in_process_s=0.5 if quick else args.in_process,
        sample=200 if quick else args.sample,
        latency_texts=20 if quick else args.latency_texts,
        eval_limit=500 if quick else args.eval_limit,
        workers=args.workers,
        quick=quick,
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    results = run(options, argv)
    log_outcome(write_outputs(results, options.out), results["targets"])
    return 0


def log_outcome(written: Iterable[Path], targets: Sequence[dict]) -> None:
    """The files written (as they are written), then each target's verdict."""
    for path in written:
        log.info("wrote %s", path)
    for target in targets:
        log.info("%s: %s", "PASS" if target["passed"] else "MISS", target["summary"])


if __name__ == "__main__":
    sys.exit(main())
