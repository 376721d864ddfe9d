"""`python -m scripts.bench.bundles BASELINE CANDIDATE`: what one bundle costs per text against
another, in one process, as the model service runs them (`SentimentModel.predict`).

Both bundles are loaded side by side with the same onnxruntime threads and measured in
alternating rounds, the order swapped each round, so that whatever else the machine does falls on
both alike. Per batch size the figures are each bundle's median milliseconds per text over the
rounds and the candidate's ratio to the baseline. A bundle in git history is measured from an
extracted copy: `git archive REV models/korean-sentiment | tar -x -C DIR`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from model_service.inference import SentimentModel
from scripts.bench.benchmark import review_texts, texts_per_second
from training.data import DEFAULT_DATA_DIR

ROLES = ("baseline", "candidate")


def compare(
    models: Mapping[str, SentimentModel],
    texts: Sequence[str],
    batches: Sequence[int],
    rounds: int,
    seconds: float,
) -> list[dict]:
    """Per batch size: both models' median ms per text over `rounds` alternating rounds, and the
    candidate's ratio to the baseline (above 1: the candidate costs more)."""
    ms_per_text = {(role, batch): [] for role in ROLES for batch in batches}
    for round_number in range(rounds):
        order = ROLES if round_number % 2 == 0 else ROLES[::-1]
        for batch in batches:
            for role in order:
                point = texts_per_second(models[role], texts, batch, seconds)
                ms_per_text[role, batch].append(1000 / point["texts_per_s"])
    results = []
    for batch in batches:
        medians = {role: statistics.median(ms_per_text[role, batch]) for role in ROLES}
        results.append(
            {"batch": batch}
            | {f"{role}_ms_per_text": round(medians[role], 4) for role in ROLES}
            | {"ratio": round(medians["candidate"] / medians["baseline"], 3)}
        )
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path, help="the bundle directory compared against")
    parser.add_argument("candidate", type=Path, help="the bundle directory measured")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "dev.tsv.gz")
    parser.add_argument("--sample", type=int, default=2048, help="review texts, in their mix")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=1.0, help="per bundle, batch and round")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    models = {
        role: SentimentModel.load(getattr(args, role), intra_op_threads=args.threads)
        for role in ROLES
    }
    for model in models.values():
        model.warm_up()
    texts = review_texts(args.data, args.sample, seed=0)
    points = compare(models, texts, args.batches, args.rounds, args.seconds)
    report = {role: models[role].model_tag for role in ROLES}
    report |= {"threads": args.threads, "rounds": args.rounds, "points": points}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
