"""The n-gram teacher (`python -m training ngram-teacher`): a head's logits on reviews it did not
see, and how `train --ngram-teacher` mixes them into the teachers' targets."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from tests.model.test_train import REPO_ROOT
from training.data import EncodedSplit, read_reviews
from training.distill import Ensemble, mix_ngram_teacher
from training.ngram_head import rating_labels
from training.ngram_teacher import TARGETS_FILE, NgramTeacher, cross_fit, folds_of

LABELS_ORDER = ["negative", "neutral", "positive"]


def cued_and_lone_reviews(n: int = 120) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(grams, labels, lone). Every review has a gram of its own; a cued one also has its
    label's cue, shared with the others of its label, and a lone one has nothing else: only a
    head that saw a lone review can tell its label."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(n) % 3)  # dealt apart from the folds
    lone = rng.permutation(np.arange(n) % 2 == 1)
    cues = 3 * n + labels  # grams 0..n-1 are the reviews' own, 3n.. the cues
    grams = [np.array([i]) if lone[i] else np.array([i, cues[i]]) for i in range(n)]
    return grams, labels, lone


def test_each_reviews_logits_come_from_heads_that_did_not_see_it():
    grams, labels, lone = cued_and_lone_reviews()
    folds = 3

    on_train, on_dev = cross_fit(
        grams, labels, grams[:6], rows=400, folds=folds, c=100.0, iterations=100
    )

    assert on_train.shape == (len(grams), 3) and on_dev.shape == (6, 3)
    # What the other folds teach (the cues) is learnt ...
    assert (on_train[~lone].argmax(axis=1) == labels[~lone]).all()
    # ... but a review's own gram was in no head that scored it: a fold's lone reviews all get
    # its head's intercepts, whatever their labels.
    fold = folds_of(len(grams), folds)
    for k in range(folds):
        scored = on_train[lone & (fold == k)]
        assert np.allclose(scored, scored[0], atol=1e-5)
    # Dev's logits are the mean of the fold heads': they know every review's own gram somewhere.
    assert not np.allclose(on_dev[1], on_dev[3], atol=1e-3)


def dev_split(labels: np.ndarray, ratings: np.ndarray) -> EncodedSplit:
    return EncodedSplit(ids=[np.array([1])] * len(labels), labels=labels, ratings=ratings)


def ngram_teacher(dev: np.ndarray, train: np.ndarray) -> NgramTeacher:
    return NgramTeacher(train=train, dev=dev, record={"vocabulary": "x"})


def uniform(n: int, classes: int) -> np.ndarray:
    return np.full((n, classes), 1 / classes, dtype=np.float32)


def test_a_head_that_knows_better_than_the_teachers_takes_the_targets_over():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, size=300)
    ratings = np.array([rng.choice(np.flatnonzero(rating_labels(LABELS_ORDER) == g)) for g in gold])
    head_on_dev = 3.0 * np.eye(3)[gold]  # sure and right, where the teachers know nothing
    head_on_train = rng.normal(size=(50, 3))
    teachers = Ensemble(uniform(300, 3), uniform(300, 10))

    mixed, record = mix_ngram_teacher(
        teachers,
        Ensemble(uniform(50, 3), uniform(50, 10)),
        ngram_teacher(head_on_dev, head_on_train),
        dev_split(gold, ratings),
    )

    assert record["label_share"] == 1.0 and record["dev"]["macro_f1"] == 1.0
    assert np.allclose(mixed.labels, softmax(head_on_train, axis=1), atol=1e-5)
    assert record["rating_share"] > 0
    # The likeliest rating is one of the label the head says.
    of_label = rating_labels(LABELS_ORDER)
    assert (of_label[mixed.ratings.argmax(axis=1)] == head_on_train.argmax(axis=1)).all()
    assert record["dev_label_log_loss"]["mixed"] < record["dev_label_log_loss"]["teachers"]


def test_a_head_that_knows_nothing_leaves_the_targets_as_they_were():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 3, size=300)
    ratings = np.array([rng.choice(np.flatnonzero(rating_labels(LABELS_ORDER) == g)) for g in gold])
    sure = (0.1 + 0.7 * np.eye(3)[gold]).astype(np.float32)  # the teachers are right
    sure_ratings = (0.01 + 0.9 * np.eye(10)[ratings]).astype(np.float32)
    on_train = Ensemble(sure[:50], sure_ratings[:50])

    mixed, record = mix_ngram_teacher(
        Ensemble(sure, sure_ratings),
        on_train,
        ngram_teacher(rng.normal(scale=3.0, size=(300, 3)), rng.normal(size=(50, 3))),
        dev_split(gold, ratings),
    )

    assert record["label_share"] == 0.0 and record["rating_share"] == 0.0
    assert np.allclose(mixed.labels, on_train.labels, atol=1e-6)
    assert np.allclose(mixed.ratings, on_train.ratings, atol=1e-6)


def test_the_command_writes_each_training_reviews_logits_and_its_record(
    tiny_checkpoint: Path, data_dir: Path, tmp_path: Path
):
    out = tmp_path / "ngram-teacher"
    command = [sys.executable, "-m", "training", "ngram-teacher", "--checkpoint",
               str(tiny_checkpoint), "--data-dir", str(data_dir), "--out", str(out),
               "--folds", "3", "--buckets", "211", "--iterations", "30"]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    teacher = NgramTeacher.load(out)
    train_reviews = len(read_reviews(data_dir / "train.tsv.gz"))
    dev_reviews = len(read_reviews(data_dir / "dev.tsv.gz"))
    assert teacher.train.shape == (train_reviews, 3) and teacher.dev.shape == (dev_reviews, 3)
    assert json.loads(done.stdout) == teacher.record
    assert teacher.record["folds"] == 3 and teacher.record["train_reviews"] == train_reviews
    assert set(teacher.record["dev"]) == {"macro_f1", "binary_accuracy"}


@pytest.mark.parametrize("folds", ["1", "0"])
def test_fewer_than_two_folds_are_refused(tiny_checkpoint: Path, tmp_path: Path, folds: str):
    command = [sys.executable, "-m", "training", "ngram-teacher", "--checkpoint",
               str(tiny_checkpoint), "--out", str(tmp_path / "t"), "--folds", folds]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 2
    assert "--folds must be at least 2" in done.stderr
    assert not (tmp_path / "t" / TARGETS_FILE).exists()
