"""`python -m scripts.soak` (`make soak`): see the package's docstring; `--help` for the options."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from gateway.database import create_db_engine, create_session_factory
from gateway.reviews.models import Review, ReviewStatus
from gateway.settings import Settings
from scripts.bench.benchmark import REPO_ROOT, git_state, review_texts
from scripts.soak import account, report
from scripts.soak.memory import MemorySampler
from scripts.soak.stack import SoakStack
from scripts.soak.traffic import WRITE_PATIENCE_S, Ledger, SoakUser, create_movies
from training.data import DEFAULT_DATA_DIR

log = logging.getLogger("soak")
SCORED_WAIT_S = 180.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="of traffic")
    parser.add_argument("--fault-every", type=float, default=240.0, help="seconds between faults")
    parser.add_argument("--first-fault", type=float, default=180.0, help="seconds in")
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--rate", type=float, default=2.0, help="requests/s per user")
    parser.add_argument("--movies", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="model-service workers")
    parser.add_argument("--bundle", type=Path, default=REPO_ROOT / "models" / "korean-sentiment")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "test.tsv.gz")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "docs" / "soak",
        help="results.json and soak.png go here",
    )
    parser.add_argument(
        "--doc",
        type=str,
        default=REPO_ROOT / "docs" / "reliability.md",
        help="its soak section is rewritten; '' leaves documents alone",
    )
    return parser.parse_args(argv)


def inject_faults(stack: SoakStack, options: argparse.Namespace, stop: threading.Event) -> list:
    """Model service, PostgreSQL, gateway, in turn, every `fault_every` s until `stop`."""
    cycle = [stack.kill_model_service, stack.restart_postgres, stack.kill_gateway]
    faults = []
    next_at = options.first_fault
    while not stop.wait(max(0.0, next_at - stack.now())):
        fault = cycle[len(faults) % len(cycle)]()
        log.info(
            "fault %d: %s (%s), back after %.1f s",
            len(faults) + 1,
            fault.part,
            fault.how,
            fault.recovered_s - fault.started_s,
        )
        faults.append(fault)
        next_at += options.fault_every
    return faults


def stored_rows(database_url: str, run: str) -> list[account.StoredReview]:
    engine = create_db_engine(Settings(database_url=database_url))
    try:
        with create_session_factory(engine)() as session:
            rows = session.scalars(select(Review).where(Review.content.startswith(run)))
            return [
                account.StoredReview(
                    row.content.split(" ", 1)[0],
                    row.id,
                    row.content,
                    row.status == ReviewStatus.SCORED,
                )
                for row in rows
            ]
    finally:
        engine.dispose()


def wait_until_scored(database_url: str, run: str) -> list[account.StoredReview]:
    """The run's rows once every one is scored by the background scorer, or after the wait."""
    deadline = time.monotonic() + SCORED_WAIT_S
    while True:
        rows = stored_rows(database_url, run)
        if all(row.scored for row in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(2)


def soak(options: argparse.Namespace, work: Path) -> dict:
    texts = review_texts(options.data, 3000, seed=0)
    ledger = Ledger(run=f"soak{uuid.uuid4().hex[:8]}")
    with SoakStack(work, options.bundle, options.workers).running() as stack:
        movie_ids = create_movies(stack, options.movies, ledger.run)
        stop = threading.Event()
        users = [
            SoakUser(n, stack, ledger, movie_ids, texts, options.rate, stop)
            for n in range(options.users)
        ]
        sampler = MemorySampler(stack)
        sampler.sample()
        sampler.start()
        for user in users:
            user.start()
        faults_done: list = []
        injector = threading.Thread(
            target=lambda: faults_done.extend(inject_faults(stack, options, stop)), daemon=True
        )
        injector.start()
        stop.wait(options.minutes * 60)
        stop.set()
        injector.join()
        for user in users:
            user.join(2 * WRITE_PATIENCE_S)
        log.info("traffic stopped at %.0f s; waiting for every review to be scored", stack.now())
        rows = wait_until_scored(stack.database_url, ledger.run)
        sampler.stop()
        return summarize(options, ledger, rows, faults_done, sampler.samples)


def summarize(options, ledger: Ledger, rows, faults, samples) -> dict:
    store = account.ledger_against_rows(ledger, rows)
    growth = account.memory_growth(samples)
    calm = account.outside_faults(ledger.requests, faults)
    writes, reads = {"write", "edit", "delete"}, {"list", "rating", "movie"}
    return {
        "run": {
            "minutes": options.minutes,
            "users": options.users,
            "rate_per_user": options.rate,
            "fault_every_s": options.fault_every,
            "workers": options.workers,
            "commit": git_state().get("commit", "?")[:7],
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        },
        "requests": len(ledger.requests),
        "faults": [dataclasses.asdict(fault) for fault in faults],
        "store": store,
        "abandoned": len(ledger.abandoned),
        "surprises": ledger.surprises[:50],
        "statuses": account.statuses(ledger.requests),
        "between_faults": {
            "writes": account.latency([r for r in calm if r.op in writes]),
            "reads": account.latency([r for r in calm if r.op in reads]),
            "all": account.latency([r for r in calm if r.op in writes | reads]),
        },
        "memory_growth": growth,
        "latency_series": report.latency_series(ledger.requests),
        "memory_samples": [dataclasses.asdict(sample) for sample in samples],
        "verdict": account.verdict(store, growth, ledger),
    }


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as work_dir:
        results = soak(options, Path(work_dir))
    options.out.mkdir(parents=True, exist_ok=True)
    report.write_json(results, options.out / "results.json")
    report.chart(results, options.out / "soak.png")
    if options.doc:
        report.update_document(Path(options.doc), results)
    log.info(
        "store %s; between faults %s; memory %s; %s",
        results["store"],
        results["between_faults"]["all"],
        results["memory_growth"],
        results["verdict"],
    )
    return 0 if results["verdict"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
