"""Distillation (`train --teacher`): the teachers' mean distributions, learnt beside the gold."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import softmax
from transformers import PreTrainedTokenizerFast

from tests.model.test_train import REPO_ROOT, TINY, tiny_config, train
from training.data import EncodedSplit, encode_split, read_reviews
from training.ngram_head import vocabulary_digest
from training.ngram_teacher import NgramTeacher
from training.options import TrainSettings
from training.train import ReviewClassifier, Trainer, attach_teachers, predict

GOLD_LABEL, TEACHER_LABEL = 0, 2
GOLD_RATING, TEACHER_RATING = 0, 9


def split_with_teachers() -> EncodedSplit:
    """Reviews whose gold label and rating the teachers contradict, every one of them."""
    rng = np.random.default_rng(0)
    n = 32
    teacher_labels = np.full((n, 3), 0.05, dtype=np.float32)
    teacher_labels[:, TEACHER_LABEL] = 0.9
    teacher_ratings = np.full((n, 10), 0.01, dtype=np.float32)
    teacher_ratings[:, TEACHER_RATING] = 0.91
    return EncodedSplit(
        ids=[rng.integers(5, 50, size=rng.integers(3, 12)) for _ in range(n)],
        labels=np.full(n, GOLD_LABEL),
        ratings=np.full(n, GOLD_RATING),
        teacher_labels=teacher_labels,
        teacher_ratings=teacher_ratings,
    )


@pytest.mark.parametrize(
    ("teacher_weight", "label", "rating"),
    [(1.0, TEACHER_LABEL, TEACHER_RATING), (0.0, GOLD_LABEL, GOLD_RATING)],
)
def test_the_student_learns_what_the_teacher_weight_gives_the_soft_targets(
    tmp_path: Path, teacher_weight: float, label: int, rating: int
):
    torch.manual_seed(0)
    split = split_with_teachers()
    settings = TrainSettings(batch_size=8, epochs=15, lr=1e-2, warmup_ratio=0.0, eval_every=1000,
                             precision="fp32", teacher_weight=teacher_weight)  # fmt: skip
    trainer = Trainer(settings, tmp_path, split, split, tiny_config(), encoder=None)

    trainer.run(deadline=float("inf"))

    log_probs, rating_logits = predict(trainer.model, split)
    assert (log_probs.argmax(axis=1) == label).all()
    assert (rating_logits.argmax(axis=1) == rating).all()


@pytest.fixture(scope="module")
def teacher(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fine-tuned run whose tokenizer a student run starts from."""
    out = tmp_path_factory.mktemp("teacher")
    train(data_dir, out, "--pretrain-epochs", "0", "--epochs", "4", "--lr", "3e-3")
    return out


def test_a_distilled_run_records_its_teachers_and_keeps_their_targets_for_resume(
    data_dir: Path, teacher: Path, tmp_path: Path
):
    student = tmp_path / "student"
    student.mkdir()
    shutil.copytree(teacher / "tokenizer", student / "tokenizer")
    checkpoint = str(shutil.copytree(teacher / "checkpoint", tmp_path / "teacher"))  # changed below
    distilled = ("--resume", "--pretrain-epochs", "0", "--teacher", checkpoint, checkpoint)

    train(data_dir, student, *distilled, "--seed", "7")

    report = json.loads((student / "checkpoint" / "training.json").read_text())
    distillation = report["distillation"]
    assert distillation["checkpoints"] == [checkpoint, checkpoint]
    assert distillation["soft_ratings"] is True
    assert set(distillation["dev"]) >= {"macro_f1", "binary_accuracy"}
    assert report["settings"]["teacher"] == [checkpoint, checkpoint]
    # The kept targets are the teacher's distributions on the training reviews.
    tokenizer = PreTrainedTokenizerFast.from_pretrained(teacher / "tokenizer")
    reviews = encode_split(tokenizer, data_dir / "train.tsv.gz", None)
    log_probs, rating_logits = predict(ReviewClassifier.load(Path(checkpoint)), reviews)
    ratings = torch.softmax(torch.from_numpy(rating_logits), dim=1).numpy()
    with np.load(student / "teacher.npz") as kept:
        assert kept["labels"].shape == (len(reviews.ids), 3)
        assert np.allclose(kept["labels"], np.exp(log_probs), atol=0.03)  # bf16 where auto is
        assert np.allclose(kept["ratings"], ratings, atol=0.03)

    resumed = train(data_dir, student, *distilled, "--seed", "7")

    assert "teacher targets reused" in resumed.stderr

    # A teacher retrained in place is another teacher: its targets are computed again.
    retrained = ReviewClassifier.load(Path(checkpoint))
    with torch.no_grad():
        retrained.classifier.classifier.bias += 1.0
    retrained.save(Path(checkpoint))

    recomputed = train(data_dir, student, *distilled, "--seed", "7")

    assert "teacher targets reused" not in recomputed.stderr
    assert "teachers' ensemble on dev" in recomputed.stderr


def test_a_teacher_over_another_vocabulary_is_refused_before_any_training(
    data_dir: Path, tmp_path: Path
):
    stranger = tmp_path / "stranger"
    subprocess.run([sys.executable, "-m", "training", "tiny", str(stranger)], cwd=REPO_ROOT,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    out = tmp_path / "run"
    command = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir),
               "--out", str(out), *TINY, "--teacher", str(stranger)]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 2
    assert "another vocabulary" in done.stderr
    assert not (out / "pretrain.pt").exists()


def test_a_teacher_weight_outside_zero_to_one_is_refused(data_dir: Path, tmp_path: Path):
    command = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir),
               "--out", str(tmp_path / "run"), *TINY, "--teacher-weight", "1.5"]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 2
    assert "--teacher-weight must be within 0..1" in done.stderr


def ngram_teacher_for(tokenizer_dir: Path, data_dir: Path, out: Path, **record) -> Path:
    """An n-gram teacher over the run's token ids that is sure of dev's gold labels, with random
    logits on the training reviews."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    reviews = len(read_reviews(data_dir / "train.tsv.gz"))
    dev = encode_split(tokenizer, data_dir / "dev.tsv.gz", None)
    vocabulary = vocabulary_digest(tokenizer.backend_tokenizer.get_vocab())
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(reviews, 3)).astype(np.float32)
    sure = 8.0 * np.eye(3, dtype=np.float32)[dev.labels]
    NgramTeacher(logits, sure, {"vocabulary": vocabulary} | record).save(out)
    return out


def test_the_ngram_teachers_logits_are_mixed_into_the_targets_and_the_kept_ones_stay_the_teachers(
    data_dir: Path, teacher: Path, tmp_path: Path
):
    ngram = ngram_teacher_for(teacher / "tokenizer", data_dir, tmp_path / "ngram")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(teacher / "tokenizer")
    reviews = encode_split(tokenizer, data_dir / "train.tsv.gz", None)
    dev = encode_split(tokenizer, data_dir / "dev.tsv.gz", None)
    checkpoint = str(teacher / "checkpoint")
    settings = TrainSettings(teacher=[checkpoint], ngram_teacher=str(ngram), precision="fp32")
    (tmp_path / "student").mkdir()

    record = attach_teachers(settings, reviews, dev, tmp_path / "student", NgramTeacher.load(ngram))

    # Sure and right on dev, the head takes the labels' targets over at share 1.
    assert record["ngram_teacher"]["label_share"] == 1.0
    head = NgramTeacher.load(ngram).train
    assert np.allclose(reviews.teacher_labels, softmax(head, axis=1), atol=1e-5)
    assert record["ngram_teacher"]["dev"]["macro_f1"] == 1.0
    # What is kept for --resume is the teachers' own, the mix made again from it each run.
    log_probs, _ = predict(ReviewClassifier.load(Path(checkpoint)), reviews)
    with np.load(tmp_path / "student" / "teacher.npz") as kept:
        assert np.allclose(kept["labels"], np.exp(log_probs), atol=1e-4)


def test_a_run_records_its_ngram_teacher(data_dir: Path, teacher: Path, tmp_path: Path):
    ngram = ngram_teacher_for(teacher / "tokenizer", data_dir, tmp_path / "ngram")
    student = tmp_path / "student"
    shutil.copytree(teacher / "tokenizer", student / "tokenizer")
    checkpoint = str(teacher / "checkpoint")

    train(data_dir, student, "--resume", "--pretrain-epochs", "0", "--epochs", "1",
          "--teacher", checkpoint, "--ngram-teacher", str(ngram))  # fmt: skip

    report = json.loads((student / "checkpoint" / "training.json").read_text())
    assert report["settings"]["ngram_teacher"] == str(ngram)
    mixed = report["distillation"]["ngram_teacher"]
    assert mixed["label_share"] == 1.0 and "rating_share" in mixed


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no teacher", "give --teacher too"),
        ("another vocabulary", "another vocabulary's token ids"),
        ("other reviews", "this run reads"),
    ],
)
def test_an_ngram_teacher_that_does_not_fit_the_run_is_refused_before_any_training(
    data_dir: Path, teacher: Path, tmp_path: Path, case: str, message: str
):
    ngram = ngram_teacher_for(teacher / "tokenizer", data_dir, tmp_path / "ngram")
    if case == "another vocabulary":
        ngram_teacher_for(teacher / "tokenizer", data_dir, ngram, vocabulary="another")
    if case == "other reviews":
        saved = NgramTeacher.load(ngram)
        NgramTeacher(saved.train[:-1], saved.dev, saved.record).save(ngram)
    out = tmp_path / "run"
    shutil.copytree(teacher / "tokenizer", out / "tokenizer")
    teachers = [] if case == "no teacher" else ["--teacher", str(teacher / "checkpoint")]
    command = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir),
               "--out", str(out), *TINY, "--resume", *teachers,
               "--ngram-teacher", str(ngram)]  # fmt: skip

    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr
    assert not (out / "pretrain.pt").exists()
