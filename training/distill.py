"""Teachers for `python -m training train --teacher CKPT [--teacher CKPT ...]`: knowledge
distillation of an ensemble into the one model the run trains.

The teachers are fine-tuned checkpoints over the run's own vocabulary (other seeds of the same
recipe, say). Their mean label distribution and mean rating distribution on every training review
are computed once, kept in OUT/teacher.npz for --resume, and become soft targets beside the gold
label and rating: the student learns what the ensemble would answer, so the served model keeps
one encoder's cost. The ensemble's own dev figures go into the run's training.json.

With `--ngram-teacher DIR` the n-gram head is a teacher too: its cross-fitted logits on the
training reviews (training.ngram_teacher) are mixed into the teachers' distributions, at the
shares that fit dev best, so that the student learns from an ensemble of both kinds of model.

This module holds what does not need the model (the vocabulary check, the mean, the kept
targets, the n-gram teacher's mix); training.train scores the teachers with it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import softmax
from transformers import PreTrainedTokenizerFast

from model_service.inference import LABELS
from training.data import EncodedSplit
from training.metrics import headline_metrics
from training.ngram_head import STARS_SHARES, rating_labels
from training.ngram_teacher import NgramTeacher
from training.options import UsageError
from training.tokenizer import vocabulary

log = logging.getLogger(__name__)

TARGETS_FILE, RECORD_FILE = "teacher.npz", "teacher.json"
# The n-gram teacher's shares tried on dev: of the label log-probabilities (0: the teachers
# alone, 1: the head alone) and of the rating logits (as the served head's share of the stars).
LABEL_SHARES = np.round(np.arange(0.0, 1.001, 0.05), 2)
RATING_SHARES = STARS_SHARES


@dataclass(frozen=True)
class Ensemble:
    """The teachers' mean distributions on one split; ratings None unless every teacher has a
    rating head."""

    labels: np.ndarray  # (reviews, classes) probabilities
    ratings: np.ndarray | None  # (reviews, 10) probabilities

    def attach(self, split: EncodedSplit) -> None:
        split.teacher_labels, split.teacher_ratings = self.labels, self.ratings


def check_vocabularies(paths: list[str], tokenizer: PreTrainedTokenizerFast) -> None:
    """Refuses a teacher that does not read the run's token ids."""
    ids = tokenizer.get_vocab()
    for path in paths:
        if vocabulary(path) != ids:
            raise UsageError(
                f"teacher {path} has another vocabulary than this run's tokenizer; a teacher "
                "must be fine-tuned from this run's encoder (or share its tokenizer)"
            )


def mean_distributions(predictions: list[tuple[np.ndarray, np.ndarray | None]]) -> Ensemble:
    """The mean of the teachers' probabilities, from each one's (label log-probabilities, rating
    logits): the mean of probabilities, not of logits, is the ensemble's own forecast."""
    labels = np.mean([np.exp(log_probs.astype(np.float64)) for log_probs, _ in predictions], axis=0)
    ratings = None
    if all(rating_logits is not None for _, rating_logits in predictions):
        ratings = np.mean([softmax(logits, axis=1) for _, logits in predictions], axis=0)
    return Ensemble(
        labels.astype(np.float32), None if ratings is None else ratings.astype(np.float32)
    )


def digests(paths: list[str]) -> list[str]:
    """Each teacher's weights' digest: kept targets are reused only for the same weights."""
    found = []
    for path in paths:
        digest = hashlib.sha256()
        for weights in sorted(Path(path).glob("*.safetensors")):
            digest.update(weights.read_bytes())
        found.append(digest.hexdigest()[:16])
    return found


def kept_targets(
    out_dir: Path, paths: list[str], weights: list[str], reviews: int
) -> tuple[Ensemble, dict] | None:
    """The targets kept in OUT for the same teachers, weights (their `digests`) and number of
    reviews, and their record; None when there are none such."""
    cached, record_path = out_dir / TARGETS_FILE, out_dir / RECORD_FILE
    if not (cached.exists() and record_path.exists()):
        return None
    record = json.loads(record_path.read_text())
    same_teachers = record["checkpoints"] == paths and record.get("digests") == weights
    if not same_teachers or record["train_reviews"] != reviews:
        return None
    with np.load(cached) as saved:
        ensemble = Ensemble(saved["labels"], saved.get("ratings"))
    log.info("teacher targets reused from %s", cached)
    return ensemble, record


def keep_targets(
    out_dir: Path, paths: list[str], weights: list[str], on_train: Ensemble, record: dict
) -> dict:
    """Writes the targets (atomically) and their record, which it returns with the teachers'
    paths and weights' digests."""
    cached = out_dir / TARGETS_FILE
    arrays = {"labels": on_train.labels}
    if on_train.ratings is not None:
        arrays["ratings"] = on_train.ratings
    np.savez(cached.with_suffix(".tmp.npz"), **arrays)
    cached.with_suffix(".tmp.npz").replace(cached)
    record = {
        "checkpoints": paths,
        "digests": weights,
        "train_reviews": len(on_train.labels),
        "soft_ratings": on_train.ratings is not None,
        **record,
    }
    (out_dir / RECORD_FILE).write_text(json.dumps(record, indent=2))
    return record


def mix_ngram_teacher(
    on_dev: Ensemble, on_train: Ensemble, ngram: NgramTeacher, dev: EncodedSplit
) -> tuple[Ensemble, dict]:
    """The teachers' distributions with the n-gram head's logits mixed in, and the mix's record.

    Labels: softmax((1 - s) ln p + s head); ratings: softmax(ln r + s' head[label of the rating]),
    as the served graph mixes the head into the stars. Each share is the one whose dev
    distribution gives the gold answers the most probability (the least dev log-loss): soft
    targets should say how sure the ensemble may be, not only what it would answer.
    """
    label_share, label_loss = _least_log_loss(
        LABEL_SHARES, lambda s: _mixed_labels(on_dev.labels, ngram.dev, s), dev.labels
    )
    mixed_labels = _mixed_labels(on_train.labels, ngram.train, label_share)
    on_dev_mixed = _mixed_labels(on_dev.labels, ngram.dev, label_share)
    record = {
        "label_share": label_share,
        "dev": headline_metrics(on_dev_mixed, dev.labels),
        "dev_label_log_loss": {
            "teachers": _log_loss(on_dev.labels, dev.labels),
            "mixed": label_loss,
        },
    }
    mixed_ratings = None
    if on_dev.ratings is not None and on_train.ratings is not None:
        rating_share, rating_loss = _least_log_loss(
            RATING_SHARES, lambda s: _mixed_ratings(on_dev.ratings, ngram.dev, s), dev.ratings
        )
        mixed_ratings = _mixed_ratings(on_train.ratings, ngram.train, rating_share)
        record["rating_share"] = rating_share
        record["dev_rating_log_loss"] = {
            "teachers": _log_loss(on_dev.ratings, dev.ratings),
            "mixed": rating_loss,
        }
    return Ensemble(mixed_labels, mixed_ratings), record


def _mixed_labels(probabilities: np.ndarray, head: np.ndarray, share: float) -> np.ndarray:
    mixed = (1 - share) * _log(probabilities) + share * head
    return softmax(mixed, axis=1).astype(np.float32)


def _mixed_ratings(probabilities: np.ndarray, head: np.ndarray, share: float) -> np.ndarray:
    mixed = _log(probabilities) + share * head[:, rating_labels(LABELS)]
    return softmax(mixed, axis=1).astype(np.float32)


def _least_log_loss(shares: np.ndarray, mixed, gold: np.ndarray) -> tuple[float, float]:
    losses = [_log_loss(mixed(share), gold) for share in shares]
    best = int(np.argmin(losses))
    return float(shares[best]), losses[best]


def _log_loss(probabilities: np.ndarray, gold: np.ndarray) -> float:
    return float(-np.mean(_log(probabilities[np.arange(len(gold)), gold])))


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probabilities.astype(np.float64), 1e-12))  # float32 rounds to 0
