"""Evaluate one or two sentiment bundles on a review TSV with the inference code the service runs.

    python -m training evaluate --model models/korean-sentiment --data test.tsv.gz --json
    python -m training evaluate --model korean-sentiment:OLD --model korean-sentiment:NEW
Two models: also their agreement and per-class differences (the check before rolling a version out).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model_service.inference import LABELS, SentimentModel, decide
from training.data import gold_labels, read_reviews
from training.metrics import sentiment_metrics, stars_metrics
from training.options import EvaluateOptions, UsageError

log = logging.getLogger(__name__)

# Texts handed to the model at once: large, so its length bucketing pads little.
CHUNK = 4096


@dataclass(frozen=True)
class Scored:
    """A model's output on a dataset: probabilities (LABELS columns), served label indices and
    stars (None for a bundle without a rating head)."""

    model_tag: str
    probabilities: np.ndarray
    predicted: np.ndarray
    seconds: float
    stars: np.ndarray | None = None


def score(model: SentimentModel, texts: Sequence[str], progress: bool = True) -> Scored:
    """Run the model over all texts in large chunks."""
    started = time.perf_counter()
    parts, stars = [], []
    with tqdm(total=len(texts), desc=model.model_tag, unit="text", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            probabilities, chunk_stars, _ = model.infer(chunk)
            parts.append(probabilities)
            stars.append(chunk_stars)
            bar.update(len(chunk))
    probabilities = np.concatenate(parts) if parts else np.zeros((0, len(LABELS)))
    predicted, _ = decide(probabilities, model.neutral_threshold)
    seconds = time.perf_counter() - started
    if not model.has_stars:
        return Scored(model.model_tag, probabilities, predicted, seconds)
    served = np.concatenate(stars) if stars else np.zeros(0, dtype=np.float32)
    return Scored(model.model_tag, probabilities, predicted, seconds, served)


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
            "stars_mae": _difference(old.get("stars_mae"), new.get("stars_mae")),
            "per_class": {
                label: {
                    key: new["per_class"][label][key] - old["per_class"][label][key]
                    for key in ("precision", "recall", "f1", "predicted")
                }
                for label in LABELS
            },
        },
    }


def _difference(old: float | None, new: float | None) -> float | None:
    """new − old, None unless both models have the figure."""
    return None if old is None or new is None else new - old


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
    ratings = np.array([r.rating for r in reviews], dtype=np.int64)
    models, scored, metrics = [], [], []
    for reference in references:
        model = load_model(reference, threads)
        model.warm_up()
        result = score(model, texts, progress)
        scored.append(result)
        metrics.append(
            sentiment_metrics(gold, result.probabilities, result.predicted)
            | stars_metrics(ratings, result.stars)
        )
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
        if m.get("stars_mae") is None:
            lines.append("    stars: none (the bundle has no rating head)")
        else:
            lines.append(f"    stars: mae={m['stars_mae']:.3f} rmse={m['stars_rmse']:.3f}")
    if "agreement" in report:
        d = report["differences"]
        lines.append(
            f"  agreement={report['agreement']:.4f} Δbinary_accuracy={d['binary_accuracy']:+.4f} "
            f"Δmacro_f1={d['macro_f1']:+.4f}"
        )
    return "\n".join(lines)


def main(options: EvaluateOptions) -> int:
    """`python -m training evaluate`: the report as JSON or a summary; 2 for an unknown model."""
    # Our loggers at INFO; libraries (the ONNX quantizer logs per tensor on the root) at WARNING.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    if len(options.model) > 2:
        raise UsageError("give one --model, or two to compare")
    if not options.data.is_file():
        raise UsageError(f"--data {options.data} not found")
    try:
        report = evaluate(options.model, options.data, limit=options.limit, threads=options.threads)
    except ModelNotFound as error:
        log.error("%s", error)
        return 2
    text = json.dumps(report, ensure_ascii=False, indent=None if options.json else 2)
    if options.output:
        options.output.write_text(text + "\n", encoding="utf-8")
    print(text if options.json else summary(report))
    return 0
