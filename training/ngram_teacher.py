"""The n-gram head as a teacher, cross-fitted so that it answers for reviews it has not seen.

    python -m training ngram-teacher --checkpoint checkpoints/korean-sentiment-v4/checkpoint \
        --out checkpoints/ngram-teacher
    python -m training train --teacher A B --ngram-teacher checkpoints/ngram-teacher ...

A head fitted on every training review would hand back, as soft targets, answers on the reviews
it learnt, surer than it is on any other. So the training reviews are dealt into K folds, and
each fold's logits come from a head fitted on the other folds (training.ngram_head's regression,
its grams and TF-IDF weighting); dev's are the mean of the K heads' logits. `train` mixes them
into the teachers' mean distributions (training.distill.mix_ngram_teacher): the student learns
from an ensemble of both kinds of model, where otherwise the served graph mixes the head in only
after training.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_service.inference import LABELS
from training.data import encode_split
from training.metrics import headline_metrics
from training.ngram_head import (
    bundle_tokenizer,
    fit_logistic_regression,
    inverse_document_frequency,
    linear_logits,
    split_grams,
    tfidf_rows,
    vocabulary_digest,
)
from training.options import NgramTeacherOptions, UsageError

log = logging.getLogger(__name__)

TARGETS_FILE, RECORD_FILE = "ngram_teacher.npz", "ngram_teacher.json"


@dataclass(frozen=True)
class NgramTeacher:
    """The cross-fitted heads' logits (columns in LABELS' order) and how they were made."""

    train: np.ndarray  # (training reviews, classes): each from the head that did not see it
    dev: np.ndarray  # (dev reviews, classes): the mean of the fold heads'
    record: dict  # vocabulary digest, folds, training reviews, dev figures, ...

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / TARGETS_FILE, train=self.train, dev=self.dev)
        (directory / RECORD_FILE).write_text(json.dumps(self.record, indent=2))

    @classmethod
    def load(cls, directory: Path) -> NgramTeacher:
        if not (directory / TARGETS_FILE).exists():
            raise UsageError(
                f"{directory} holds no n-gram teacher; make one with "
                "`python -m training ngram-teacher --checkpoint CKPT --out DIR`"
            )
        with np.load(directory / TARGETS_FILE) as saved:
            train, dev = saved["train"], saved["dev"]
        return cls(train, dev, json.loads((directory / RECORD_FILE).read_text()))

    def check_fits(self, vocabulary: str, train_reviews: int, directory: Path) -> None:
        """Refuses logits over other token ids or another set of training reviews."""
        if self.record["vocabulary"] != vocabulary:
            raise UsageError(
                f"the n-gram teacher in {directory} was fitted on another vocabulary's token "
                "ids; make it with a checkpoint of this run's encoder"
            )
        if len(self.train) != train_reviews:
            raise UsageError(
                f"the n-gram teacher in {directory} has logits for {len(self.train)} training "
                f"reviews, this run reads {train_reviews}; make it with the same --train-limit"
            )


def folds_of(reviews: int, folds: int) -> np.ndarray:
    """Each review's fold: dealt in turn, so that every fold spans the whole file."""
    return np.arange(reviews) % folds


def cross_fit(
    train_grams: list[np.ndarray],
    labels: np.ndarray,
    dev_grams: list[np.ndarray],
    rows: int,
    *,
    folds: int,
    c: float,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-fold logits on the training reviews, the fold heads' mean logits on dev).

    The idf is counted over every training review: it reads no labels, so a held-out fold's
    text in it tells its head nothing about that fold's answers.
    """
    idf = inverse_document_frequency(train_grams, rows)
    fold = folds_of(len(train_grams), folds)
    dev_features = tfidf_rows(dev_grams, idf, rows)
    on_train = np.empty((len(train_grams), len(LABELS)), dtype=np.float32)
    on_dev = np.zeros((len(dev_grams), len(LABELS)), dtype=np.float64)
    for k in range(folds):
        fitted, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        log.info("fold %d of %d: fitting on %d reviews", k + 1, folds, len(fitted))
        coefficients, intercept = fit_logistic_regression(
            tfidf_rows([train_grams[i] for i in fitted], idf, rows),
            labels[fitted],
            len(LABELS),
            l2=1 / (c * len(fitted)),  # as training.ngram_head: C weighs the summed loss
            iterations=iterations,
        )
        held_features = tfidf_rows([train_grams[i] for i in held], idf, rows)
        on_train[held] = linear_logits(held_features, coefficients) + intercept
        on_dev += (linear_logits(dev_features, coefficients) + intercept) / folds
    return on_train, on_dev.astype(np.float32)


def make(options: NgramTeacherOptions) -> NgramTeacher:
    """Cross-fit the head over the checkpoint's token ids, as `ngram-head` fits it."""
    started = time.perf_counter()
    tokenizer, _, _ = bundle_tokenizer(options.checkpoint)
    vocab_size = tokenizer.backend_tokenizer.get_vocab_size()
    rows = vocab_size + options.buckets
    train = encode_split(tokenizer, options.data_dir / "train.tsv.gz", options.train_limit)
    dev = encode_split(tokenizer, options.data_dir / "dev.tsv.gz", None)
    on_train, on_dev = cross_fit(
        split_grams(train, vocab_size, options.buckets),
        train.labels,  # encode_split's labels index LABELS, the logits' columns
        split_grams(dev, vocab_size, options.buckets),
        rows,
        folds=options.folds,
        c=options.c,
        iterations=options.iterations,
    )
    record = {
        "checkpoint": str(options.checkpoint),
        "vocabulary": vocabulary_digest(tokenizer.backend_tokenizer.get_vocab()),
        "folds": options.folds,
        "buckets": options.buckets,
        "c": options.c,
        "iterations": options.iterations,
        "train_reviews": len(on_train),
        "dev": headline_metrics(on_dev, dev.labels),
        "out_of_fold": headline_metrics(on_train, train.labels),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    return NgramTeacher(on_train, on_dev, record)


def main(options: NgramTeacherOptions) -> int:
    """`python -m training ngram-teacher`: cross-fit the head and keep its logits."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if options.folds < 2:
        raise UsageError(f"--folds must be at least 2, got {options.folds}")
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    teacher = make(options)
    teacher.save(options.out)
    print(json.dumps(teacher.record, indent=2))
    return 0
