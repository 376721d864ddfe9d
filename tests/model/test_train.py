"""The training script on the sample reviews: both phases, a stop at the time limit, --resume."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.options import TrainSettings
from training.rating_head import RatingHead
from training.tokenizer import SPECIAL_TOKENS
from training.train import ReviewClassifier, averaged_classifier, mask_tokens, step_precision

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = ["--vocab-size", "300", "--hidden", "16", "--layers", "1", "--heads", "2",
        "--intermediate", "32", "--batch-size", "8", "--eval-every", "3",
        "--pretrain-epochs", "2", "--epochs", "2", "--patience", "100"]  # fmt: skip


def times(history: list[dict], key: str = "train_cpu_seconds") -> list[float]:
    return [entry[key] for entry in history]


def train(data_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir),
               "--out", str(out), *TINY, *extra]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_run_stopped_in_pre_training_resumes_and_ends_with_a_loadable_checkpoint(
    data_dir: Path, tmp_path: Path
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "run"
    stopped = train(data_dir, out, "--max-minutes", "0.00001")

    assert "pre-training paused at the time limit" in stopped.stderr
    assert (out / "pretrain.pt").is_file() and not (out / "checkpoint").exists()

    train(data_dir, out, "--resume")

    pretraining = json.loads((out / "pretrained" / "pretraining.json").read_text())
    report = json.loads((out / "checkpoint" / "training.json").read_text())
    assert pretraining["stopped"] == "finished" and pretraining["steps"] > 0
    assert pretraining["objective"] == "mlm"  # the default
    # "auto" is recorded as what the steps computed in on this CPU.
    assert pretraining["steps_computed_in"] == report["steps_computed_in"]
    assert report["steps_computed_in"] == step_precision("auto")
    assert step_precision("auto") in ("bfloat16", "float32")
    assert [h["step"] for h in pretraining["history"]][-1] == pretraining["steps"]
    assert report["pretraining"] == pretraining
    assert report["stopped"] == "finished"
    # Each evaluation says how long its phase had trained by then, in wall and CPU seconds.
    for history in (pretraining["history"], report["history"]):
        for key in ("train_seconds", "train_cpu_seconds"):
            spent = times(history, key)
            assert spent == sorted(spent) and spent[-1] > 0
    assert set(report["dev_tuned"]) == {"macro_f1", "binary_accuracy"}
    # The last three evaluations' weights were averaged and compared with the best one.
    evaluated = [h["step"] for h in report["history"]]
    assert report["selection"]["averaged"]["steps"] == evaluated[-3:]
    assert report["selection"]["chosen"] in ("best", "averaged")
    assert len(list((out / "snapshots").glob("step-*.pt"))) == 3
    model = AutoModelForSequenceClassification.from_pretrained(out / "checkpoint")
    tokenizer = AutoTokenizer.from_pretrained(out / "checkpoint")
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    logits = model(**tokenizer(["배우들 연기가 최고였다"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)
    assert_the_chosen_rating_head_is_kept_and_calibrated(out, report)


def assert_the_chosen_rating_head_is_kept_and_calibrated(out: Path, report: dict) -> None:
    """The checkpoint keeps the rating head of the model chosen (the best evaluation's, or the
    mean of the last snapshots'), calibrated on dev, as training.json records."""
    head = RatingHead.load(out / "checkpoint")
    assert head is not None and head.weight.shape == (10, 16)  # --hidden 16
    if report["selection"]["chosen"] == "best":
        chosen = RatingHead.load(out / "best")
    else:
        states = [torch.load(path) for path in sorted((out / "snapshots").glob("step-*.pt"))]
        chosen = RatingHead(
            (sum(s["rating_head.weight"] for s in states) / len(states)).numpy(),
            (sum(s["rating_head.bias"] for s in states) / len(states)).numpy(),
        )
    np.testing.assert_allclose(head.weight, chosen.weight, atol=1e-6)
    np.testing.assert_allclose(head.bias, chosen.bias, atol=1e-6)
    stars = report["stars"]
    assert stars["calibration"] == {
        "temperature": head.calibration.temperature,
        "a": head.calibration.a,
        "b": head.calibration.b,
    }
    assert stars["dev"] == head.dev
    dev = stars["dev"]
    assert dev["n"] == 24 and 1 <= dev["mean"] <= 10 and dev["rmse"] >= dev["mae"] > 0
    assert dev["mean"] == pytest.approx(dev["true_mean"], abs=0.1)  # least squares (clipped)
    assert dev["rmse"] <= dev["uncalibrated"]["rmse"] + 1e-9


def test_a_finished_pre_training_is_not_run_again_on_resume(data_dir: Path, tmp_path: Path):
    out = tmp_path / "run"
    train(data_dir, out)
    weights = (out / "pretrained" / "model.safetensors").read_bytes()

    again = train(data_dir, out, "--resume")

    assert "pretrain step" not in again.stderr
    assert "training stopped: finished" in again.stderr  # fine-tuning resumed, already done
    assert (out / "pretrained" / "model.safetensors").read_bytes() == weights


def test_more_pre_training_epochs_on_resume_go_on_and_restart_fine_tuning(
    data_dir: Path, tmp_path: Path
):
    out = tmp_path / "run"
    train(data_dir, out)
    first = json.loads((out / "pretrained" / "pretraining.json").read_text())

    longer = train(data_dir, out, "--resume", "--pretrain-epochs", "4")

    assert "pre-training goes on from 2.0 to 4.0 epochs" in longer.stderr
    assert f"pretrain: resumed at step {first['steps']}" in longer.stderr
    # The fine-tuning state of the shorter pre-training was dropped, not resumed.
    assert "training.train train: resumed" not in longer.stderr
    record = json.loads((out / "pretrained" / "pretraining.json").read_text())
    assert record["epochs"] == 4.0 and record["steps"] == 2 * first["steps"]
    # The resumed phase's time went on from the first run's.
    assert record["history"][: len(first["history"])] == first["history"]
    assert times(record["history"]) == sorted(times(record["history"]))
    report = json.loads((out / "checkpoint" / "training.json").read_text())
    assert report["pretraining"] == record and report["stopped"] == "finished"


def tiny_config():
    from transformers import BertConfig

    return BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=16, num_labels=3)  # fmt: skip


def test_the_averaged_classifier_is_the_mean_of_the_kept_snapshots(tmp_path: Path):
    config = tiny_config()
    (tmp_path / "snapshots").mkdir()
    states = []
    for step in (10, 20):
        torch.manual_seed(step)
        state = ReviewClassifier(config).state_dict()
        torch.save(state, tmp_path / "snapshots" / f"step-{step:07d}.pt")
        states.append(state)

    model, steps = averaged_classifier(tmp_path, config)

    assert steps == [10, 20]
    assert model.rating_head is not None  # averaged with the classifier
    assert set(model.state_dict()) == set(states[0])
    for key, value in model.state_dict().items():
        assert torch.allclose(value, (states[0][key] + states[1][key]) / 2), key


def test_snapshots_kept_before_the_rating_head_average_into_a_model_without_one(tmp_path: Path):
    from transformers import BertForSequenceClassification

    config = tiny_config()
    (tmp_path / "snapshots").mkdir()
    for step in (10, 20):
        state = BertForSequenceClassification(config).state_dict()
        torch.save(state, tmp_path / "snapshots" / f"step-{step:07d}.pt")
    torch.save(ReviewClassifier(config).state_dict(), tmp_path / "snapshots" / "step-0000030.pt")

    model, _ = averaged_classifier(tmp_path, config)

    assert model.rating_head is None
    model.save(tmp_path / "checkpoint")
    assert RatingHead.load(tmp_path / "checkpoint") is None
    assert ReviewClassifier.load(tmp_path / "checkpoint").rating_head is None


def test_masking_picks_only_real_tokens_and_corrupts_as_bert_does():
    torch.manual_seed(0)
    settings = TrainSettings(mask_prob=0.15)
    first_word, vocab = len(SPECIAL_TOKENS), 1000
    ids = torch.randint(first_word, vocab, (400, 50))
    ids[:, 0], ids[:, -1] = SPECIAL_TOKENS.index("[CLS]"), SPECIAL_TOKENS.index("[SEP]")
    attention = torch.ones_like(ids)
    attention[:, 40:] = 0  # padding

    corrupted, targets = mask_tokens(ids, attention, settings, vocab)

    chosen = targets != -100
    assert not chosen[:, 0].any() and not chosen[:, -1].any() and not chosen[:, 40:].any()
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(corrupted[~chosen], ids[~chosen])
    mask_id = SPECIAL_TOKENS.index("[MASK]")
    share = chosen[:, 1:40].float().mean().item()
    assert 0.13 < share < 0.17
    masked = (corrupted[chosen] == mask_id).float().mean().item()
    kept = (corrupted[chosen] == ids[chosen]).float().mean().item()
    assert 0.77 < masked < 0.83 and 0.07 < kept < 0.14
    assert ((corrupted[chosen] >= first_word) | (corrupted[chosen] == mask_id)).all()


@pytest.mark.parametrize(
    ("precision", "computed_in"), [("bf16", torch.bfloat16), ("fp32", torch.float32)]
)
def test_training_steps_compute_in_the_chosen_precision_and_keep_float32_weights(
    tmp_path: Path, precision: str, computed_in: torch.dtype
):
    from training.data import EncodedSplit
    from training.train import Trainer

    rng = np.random.default_rng(0)
    split = EncodedSplit(
        ids=[rng.integers(5, 50, size=rng.integers(3, 12)) for _ in range(16)],
        labels=rng.integers(0, 3, size=16),
        ratings=rng.integers(0, 10, size=16),
    )
    settings = TrainSettings(batch_size=8, epochs=1, eval_every=100, precision=precision)
    trainer = Trainer(settings, tmp_path, split, split, tiny_config(), encoder=None)
    training_outputs = []

    def record_dtype(module, _, output) -> None:
        if module.training:  # the evaluations, in float32 always, are not steps
            training_outputs.append(output.dtype)

    dense = trainer.model.classifier.bert.encoder.layer[0].intermediate.dense
    dense.register_forward_hook(record_dtype)

    assert trainer.run(deadline=float("inf")) == "finished"

    assert training_outputs == [computed_in, computed_in]  # two steps of 8 reviews
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
    assert ReviewClassifier.load(tmp_path / "best").classifier.dtype == torch.float32
