"""Evaluate one or two sentiment bundles on a review TSV with the inference code the service runs.

    python scripts/evaluate.py --model models/korean-sentiment --data test.tsv.gz --json
    python -m scripts.evaluate --model korean-sentiment:OLD --model korean-sentiment:NEW
Two models: also their agreement and per-class differences (the check before rolling a version out).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as `python scripts/evaluate.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_service.inference import LABELS, POSITIVE, SentimentModel, decide
from scripts.reviews_data import DEFAULT_DATA_DIR, Review, label_of, read_reviews

log = logging.getLogger("evaluate")

NEGATIVE = LABELS.index("negative")
# Texts handed to the model at once: large, so its length bucketing pads little.
CHUNK = 4096


@dataclass(frozen=True)
class Scored:
    """A model's output on a dataset: probabilities (LABELS columns) and served label indices."""

    model_tag: str
    probabilities: np.ndarray
    predicted: np.ndarray
    seconds: float


def gold_labels(reviews: Sequence[Review]) -> np.ndarray:
    return np.array([LABELS.index(label_of(r.rating)) for r in reviews], dtype=np.int64)


def sentiment_metrics(gold: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray) -> dict:
    """The project's figures for one model on one dataset.

    binary_accuracy: balanced (mean of the two recalls) on 1–4 / 9–10 stars, positive when
    P(pos) > P(neg); macro_f1 over the three classes; accuracy; per-class precision/recall/f1;
    the confusion matrix (rows = gold, columns = predicted).
    """
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    np.add.at(confusion, (gold, predicted), 1)
    per_class = {}
    for index, label in enumerate(LABELS):
        hits = confusion[index, index]
        precision = hits / confusion[:, index].sum() if confusion[:, index].any() else 0.0
        recall = hits / confusion[index].sum() if confusion[index].any() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(confusion[index].sum()),
            "predicted": int(confusion[:, index].sum()),
        }
    leans_positive = probabilities[:, POSITIVE] > probabilities[:, NEGATIVE]
    polar_recalls = [
        float(np.mean(leans_positive[gold == POSITIVE])) if (gold == POSITIVE).any() else 0.0,
        float(np.mean(~leans_positive[gold == NEGATIVE])) if (gold == NEGATIVE).any() else 0.0,
    ]
    return {
        "n": len(gold),
        "binary_accuracy": float(np.mean(polar_recalls)),
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "accuracy": float(np.mean(gold == predicted)) if len(gold) else 0.0,
        "per_class": per_class,
        "confusion_matrix": {"labels": list(LABELS), "rows": "gold", "matrix": confusion.tolist()},
    }


def score(model: SentimentModel, texts: Sequence[str], progress: bool = True) -> Scored:
    """Run the model over all texts in large chunks."""
    started = time.perf_counter()
    parts = []
    with tqdm(total=len(texts), desc=model.model_tag, unit="text", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            parts.append(model.probabilities(chunk)[0])
            bar.update(len(chunk))
    probabilities = np.concatenate(parts) if parts else np.zeros((0, len(LABELS)))
    predicted, _ = decide(probabilities, model.neutral_threshold)
    return Scored(model.model_tag, probabilities, predicted, time.perf_counter() - started)


def compare(gold: np.ndarray, first: Scored, second: Scored, metrics: list[dict]) -> dict:
    """Agreement of two models' served labels and their per-class differences (second − first)."""
    crosstab = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    np.add.at(crosstab, (first.predicted, second.predicted), 1)
    old, new = metrics
    return {
        "agreement": float(np.mean(first.predicted == second.predicted)) if len(gold) else 0.0,
        "label_crosstab": {
            "labels": list(LABELS),
            "rows": first.model_tag,
            "columns": second.model_tag,
            "matrix": crosstab.tolist(),
        },
        "differences": {
            "binary_accuracy": new["binary_accuracy"] - old["binary_accuracy"],
            "macro_f1": new["macro_f1"] - old["macro_f1"],
            "accuracy": new["accuracy"] - old["accuracy"],
            "per_class": {
                label: {
                    key: new["per_class"][label][key] - old["per_class"][label][key]
                    for key in ("precision", "recall", "f1", "predicted")
                }
                for label in LABELS
            },
        },
    }


class ModelNotFound(Exception):
    """--model names neither a bundle directory nor a model in the store."""


def load_model(reference: str, threads: int | None = None) -> SentimentModel:
    """A bundle directory, or a BentoML store tag such as korean-sentiment:latest."""
    if Path(reference).is_dir():
        return SentimentModel.load(reference, intra_op_threads=threads)
    import bentoml  # only for store tags: a bundle directory needs no BentoML

    try:
        stored = bentoml.models.get(reference)
    except (bentoml.exceptions.NotFound, ValueError) as error:
        raise ModelNotFound(
            f"{reference!r} is neither a bundle directory nor a model in the store "
            f"($BENTOML_HOME): {error}"
        ) from error
    return SentimentModel.load(stored.path, model_tag=str(stored.tag), intra_op_threads=threads)


def evaluate(
    references: Sequence[str],
    data: Path,
    *,
    limit: int | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> dict:
    """The result object: per-model metrics and, for two models, their comparison."""
    reviews = read_reviews(data, limit)
    texts = [r.text for r in reviews]
    gold = gold_labels(reviews)
    models, scored, metrics = [], [], []
    for reference in references:
        model = load_model(reference, threads)
        model.warm_up()
        result = score(model, texts, progress)
        scored.append(result)
        metrics.append(sentiment_metrics(gold, result.probabilities, result.predicted))
        models.append(
            {
                "model": model.model_tag,
                "reference": reference,
                **metrics[-1],
                "seconds": round(result.seconds, 2),
                "texts_per_second": round(len(texts) / result.seconds, 1)
                if result.seconds
                else None,
            }
        )
    report = {"data": str(data), **models[0]} if len(models) == 1 else {"data": str(data)}
    if len(models) == 2:
        report |= {"models": models, **compare(gold, scored[0], scored[1], metrics)}
    return report


def summary(report: dict) -> str:
    """A few readable lines for the terminal."""
    models = report.get("models", [report])
    lines = [f"{report['data']}: n={models[0]['n']}"]
    for m in models:
        lines.append(
            f"  {m['model']}: binary_accuracy={m['binary_accuracy']:.4f} "
            f"macro_f1={m['macro_f1']:.4f} accuracy={m['accuracy']:.4f} "
            f"({m['texts_per_second']} texts/s)"
        )
        for label, c in m["per_class"].items():
            lines.append(f"    {label:9s} precision={c['precision']:.3f} recall={c['recall']:.3f}")
    if "agreement" in report:
        d = report["differences"]
        lines.append(
            f"  agreement={report['agreement']:.4f} Δbinary_accuracy={d['binary_accuracy']:+.4f} "
            f"Δmacro_f1={d['macro_f1']:+.4f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        help="bundle directory or store tag; give it twice to compare two models",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "test.tsv.gz")
    parser.add_argument("--limit", type=int, default=None, help="only the first N reviews")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--output", type=Path, help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    # Our loggers at INFO; libraries (the ONNX quantizer logs per tensor on the root) at WARNING.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    if len(args.model) > 2:
        parser.error("give one --model, or two to compare")
    if not args.data.is_file():
        parser.error(f"--data {args.data} not found")
    try:
        report = evaluate(args.model, args.data, limit=args.limit, threads=args.threads)
    except ModelNotFound as error:
        log.error("%s", error)
        return 2
    text = json.dumps(report, ensure_ascii=False, indent=None if args.json else 2)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text if args.json else summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
