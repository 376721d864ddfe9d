"""Teachers for `python -m training train --teacher CKPT [--teacher CKPT ...]`: knowledge
distillation of an ensemble into the one model the run trains.

The teachers are fine-tuned checkpoints over the run's own vocabulary (other seeds of the same
recipe, say). Their mean label distribution and mean rating distribution on every training review
are computed once, kept in OUT/teacher.npz for --resume, and become soft targets beside the gold
label and rating: the student learns what the ensemble would answer, so the served model keeps
one encoder's cost. The ensemble's own dev figures go into the run's training.json.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast

from training.data import EncodedSplit
from training.metrics import headline_metrics
from training.options import UsageError

if TYPE_CHECKING:
    from training.train import ReviewClassifier

log = logging.getLogger(__name__)

TARGETS_FILE = "teacher.npz"


@dataclass(frozen=True)
class Ensemble:
    """The teachers' mean distributions on one split; ratings None unless every teacher has a
    rating head."""

    labels: np.ndarray  # (reviews, classes) probabilities
    ratings: np.ndarray | None  # (reviews, 10) probabilities


def load_teachers(paths: list[str], tokenizer: PreTrainedTokenizerFast) -> list[ReviewClassifier]:
    """The teacher checkpoints, refused unless each reads the run's token ids."""
    from training.train import ReviewClassifier  # train imports this module

    vocabulary = tokenizer.get_vocab()
    for path in paths:
        if PreTrainedTokenizerFast.from_pretrained(path).get_vocab() != vocabulary:
            raise UsageError(
                f"teacher {path} has another vocabulary than this run's tokenizer; a teacher "
                "must be fine-tuned from this run's encoder (or share its tokenizer)"
            )
    return [ReviewClassifier.load(Path(path)) for path in paths]


def ensemble_predictions(
    teachers: list[ReviewClassifier], split: EncodedSplit, bf16: bool
) -> Ensemble:
    """The mean of the teachers' probabilities (not of their logits: the ensemble that the
    student imitates is the average forecaster)."""
    from training.train import predict

    labels, ratings = [], []
    for teacher in teachers:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            log_probs, rating_logits = predict(teacher, split)
        labels.append(np.exp(log_probs.astype(np.float64)))
        ratings.append(None if rating_logits is None else _softmax(rating_logits))
    mean_ratings = None if any(r is None for r in ratings) else np.mean(ratings, axis=0)
    return Ensemble(
        np.mean(labels, axis=0).astype(np.float32),
        None if mean_ratings is None else mean_ratings.astype(np.float32),
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(shifted - shifted.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def digests(paths: list[str]) -> list[str]:
    """Each teacher's weights' digest: kept targets are reused only for the same weights."""
    found = []
    for path in paths:
        digest = hashlib.sha256()
        for weights in sorted(Path(path).glob("*.safetensors")):
            digest.update(weights.read_bytes())
        found.append(digest.hexdigest()[:16])
    return found


def attach_teachers(
    teachers: list[ReviewClassifier],
    paths: list[str],
    train: EncodedSplit,
    dev: EncodedSplit,
    out_dir: Path,
    bf16: bool,
) -> dict:
    """Sets train's soft targets from the teachers (reusing OUT/teacher.npz when it was computed
    for the same teachers' weights and reviews); returns the teachers' record for training.json."""
    cached = out_dir / TARGETS_FILE
    record_path = out_dir / "teacher.json"
    if cached.exists() and record_path.exists():
        record = json.loads(record_path.read_text())
        same_teachers = record["checkpoints"] == paths and record.get("digests") == digests(paths)
        if same_teachers and record["train_reviews"] == len(train.ids):
            with np.load(cached) as saved:
                train.teacher_labels = saved["labels"]
                train.teacher_ratings = saved.get("ratings")
            log.info("teacher targets reused from %s", cached)
            return record
    started = time.monotonic()
    on_dev = ensemble_predictions(teachers, dev, bf16=False)
    on_train = ensemble_predictions(teachers, train, bf16)
    train.teacher_labels, train.teacher_ratings = on_train.labels, on_train.ratings
    arrays = {"labels": on_train.labels}
    if on_train.ratings is not None:
        arrays["ratings"] = on_train.ratings
    np.savez(cached.with_suffix(".tmp.npz"), **arrays)
    cached.with_suffix(".tmp.npz").replace(cached)
    record = {
        "checkpoints": paths,
        "digests": digests(paths),
        "train_reviews": len(train.ids),
        "soft_ratings": on_train.ratings is not None,
        "dev": headline_metrics(np.log(np.maximum(on_dev.labels, 1e-12)), dev.labels),
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    record_path.write_text(json.dumps(record, indent=2))
    log.info("teachers' ensemble on dev %s", record["dev"])
    return record
