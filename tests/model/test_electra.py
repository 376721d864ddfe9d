"""ELECTRA pre-training on the sample reviews: the corruption, the generator and discriminator
pair, the discriminator fine-tuning starts from, and resuming."""

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.model.test_train import REPO_ROOT, TINY, times, train
from training.data import collate, encode_split
from training.options import TrainSettings
from training.tiny import SAMPLE_REVIEWS, build_tokenizer
from training.tokenizer import SPECIAL_TOKENS
from training.train import (
    ElectraPretrainer,
    ReplacedTokenDetection,
    Trainer,
    make_config,
    mask_tokens,
    replace_tokens,
)

# TINY's model and schedule, in process.
SETTINGS = TrainSettings(hidden=16, layers=1, heads=2, intermediate=32, batch_size=8,
                         eval_every=3, pretrain_epochs=2, patience=100,
                         pretrain_objective="electra")  # fmt: skip


@pytest.fixture(scope="module")
def splits(data_dir: Path):
    tokenizer = build_tokenizer([text for text, _ in SAMPLE_REVIEWS])
    train_split = encode_split(tokenizer, data_dir / "train.tsv.gz", None)
    dev_split = encode_split(tokenizer, data_dir / "dev.tsv.gz", None)
    return tokenizer, train_split, dev_split


def pretrainer(out: Path, splits, **changes) -> ElectraPretrainer:
    tokenizer, train_split, dev_split = splits
    s = replace(SETTINGS, **changes)
    torch.manual_seed(s.seed)  # as main() seeds: the same start every time
    return ElectraPretrainer(s, out, train_split, dev_split, make_config(s, tokenizer))


def replaced_ids(run: ElectraPretrainer) -> list[torch.Tensor]:
    return [replaced for replaced, _ in run.dev_replaced]


def test_replacing_changes_only_masked_tokens_and_labels_exactly_the_changed_ones():
    torch.manual_seed(0)
    first_word, vocab = len(SPECIAL_TOKENS), 1000
    ids = torch.randint(first_word, vocab, (200, 30))
    attention = torch.ones_like(ids)
    attention[:, 25:] = 0
    _, targets = mask_tokens(ids, attention, TrainSettings(), vocab)
    masked = targets != -100
    samples = torch.randint(first_word, vocab, (int(masked.sum()),))
    samples[::3] = ids[masked][::3]  # a third of the samples are the original token

    replaced, labels = replace_tokens(ids, targets, samples)

    assert torch.equal(replaced[~masked], ids[~masked])
    assert torch.equal(replaced[masked], samples)
    expected = torch.zeros_like(masked)
    expected[masked] = samples != ids[masked]
    assert torch.equal(labels.bool(), expected)
    assert 0 < labels.sum() < masked.sum()  # the originals drawn again count as real tokens


def test_the_generator_is_a_quarter_as_wide_and_shares_the_discriminators_embeddings(splits):
    tokenizer, _, _ = splits
    config = make_config(TrainSettings(), tokenizer)  # the default model's size

    pair = ReplacedTokenDetection(config, TrainSettings())

    generator = pair.generator
    assert pair.discriminator.config.to_dict() == config.to_dict()  # the encoder fine-tuned
    assert (generator.config.hidden_size, generator.config.num_attention_heads) == (64, 1)
    assert generator.config.intermediate_size == 256
    assert generator.electra.embeddings is pair.discriminator.embeddings
    word_embeddings = pair.discriminator.embeddings.word_embeddings.weight
    assert generator.generator_lm_head.weight is word_embeddings
    assert generator.electra.embeddings_project.weight.shape == (64, 256)


def test_electra_pre_training_lowers_the_dev_loss_and_fine_tuning_starts_from_it(
    splits, tmp_path: Path
):
    run = pretrainer(tmp_path, splits)
    before = run.dev_metrics()
    initial = {k: v.clone() for k, v in run.model.discriminator.state_dict().items()}

    assert run.run(math.inf) == "finished"

    losses = [entry["replaced_token_loss"] for entry in run.history]
    assert min(losses) < before["replaced_token_loss"]
    assert all(0 <= entry["replaced_token_accuracy"] <= 1 for entry in run.history)
    # The discriminator as an improvement keeps it; fine-tuning's encoder is those weights.
    run.keep_best()
    saved = load_file(tmp_path / "pretrained" / "model.safetensors")
    _, train_split, dev_split = splits
    config = make_config(SETTINGS, splits[0])
    trainer = Trainer(SETTINGS, tmp_path, train_split, dev_split, config, tmp_path / "pretrained")
    encoder = trainer.model.classifier.bert.state_dict()
    assert set(encoder) - set(saved) == {"pooler.dense.weight", "pooler.dense.bias"}
    for key, value in saved.items():
        assert torch.equal(encoder[key], value), key
        assert torch.equal(value, run.model.discriminator.state_dict()[key]), key
    assert not torch.equal(saved["encoder.layer.0.output.dense.weight"],
                           initial["encoder.layer.0.output.dense.weight"])  # fmt: skip


def test_the_dev_corruption_is_fixed_and_replaces_only_the_masked_tokens(splits, tmp_path):
    first, second = pretrainer(tmp_path, splits), pretrainer(tmp_path, splits, seed=7)
    again = pretrainer(tmp_path, splits)

    for batch, (_, targets), (replaced, labels) in zip(
        first.dev_batches, first.dev_masked, first.dev_replaced, strict=True
    ):
        ids, masked = batch["input_ids"], targets != -100
        assert torch.equal(replaced[~masked], ids[~masked])
        assert torch.equal(labels.bool(), replaced != ids) and labels.sum() > 0
    assert all(map(torch.equal, replaced_ids(first), replaced_ids(again)))
    assert first.dev_metrics() == again.dev_metrics()
    assert not all(map(torch.equal, replaced_ids(first), replaced_ids(second)))


def test_a_resumed_electra_pre_training_goes_on_exactly_where_it_stopped(splits, tmp_path):
    whole = pretrainer(tmp_path / "whole", splits)
    whole.run(math.inf)
    cut = pretrainer(tmp_path / "cut", splits)
    cut.total_steps = 9  # stops at step 9, its state saved there, as at a time limit
    cut.run(math.inf)

    resumed = pretrainer(tmp_path / "cut", splits)
    resumed.load_state()
    assert resumed.step == 9
    resumed.run(math.inf)

    assert resumed.step == whole.step
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    untimed = [{k: v for k, v in h.items() if "seconds" not in k} for h in whole.history]
    assert [{k: v for k, v in h.items() if "seconds" not in k} for h in resumed.history] == untimed


def test_an_electra_run_stopped_in_pre_training_resumes_and_fine_tunes_its_discriminator(
    data_dir: Path, tmp_path: Path
):
    out = tmp_path / "run"
    electra = ("--pretrain-objective", "electra")
    stopped = train(data_dir, out, *electra, "--max-minutes", "0.00001")
    assert "pre-training paused at the time limit" in stopped.stderr

    resumed = train(data_dir, out, *electra, "--resume")

    record = json.loads((out / "pretrained" / "pretraining.json").read_text())
    report = json.loads((out / "checkpoint" / "training.json").read_text())
    assert record["objective"] == "electra" and record["stopped"] == "finished"
    assert report["pretraining"] == record and report["stopped"] == "finished"
    assert report["settings"]["pretrain_objective"] == "electra"
    assert {"replaced_token_loss", "replaced_token_accuracy", "train_cpu_seconds"} <= set(
        record["history"][-1]
    )
    assert times(record["history"]) == sorted(times(record["history"]))
    # Fine-tuning loaded the whole encoder: only the pooler and the classifier start fresh. (A
    # set: with CI set, transformers' logger also propagates to the root's, printing it twice.)
    fresh = {line.split("newly initialized: ")[1]
             for line in resumed.stderr.splitlines() if "newly initialized: " in line}  # fmt: skip
    assert fresh == {str(["bert.pooler.dense.bias", "bert.pooler.dense.weight",
                          "classifier.bias", "classifier.weight"])}  # fmt: skip

    # A finished ELECTRA pre-training is not taken for a masked-LM one, nor the other way.
    command = [sys.executable, "-m", "training", "train", "--data-dir", str(data_dir),
               "--out", str(out), *TINY, "--resume"]  # fmt: skip
    mixed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert mixed.returncode == 2
    assert "pre-trained with --pretrain-objective electra" in mixed.stderr


def test_the_discriminator_learns_to_tell_uniformly_random_replacements(splits):
    """Random tokens at the masked positions are what a discriminator tells first (by the tokens
    alone): trained on them, it must find most of them, where answering "real" everywhere scores
    the base rate. It fails when the discriminator is not shown the replaced tokens."""
    tokenizer, train_split, _ = splits
    s = replace(SETTINGS, hidden=32, intermediate=64)
    config = make_config(s, tokenizer)
    torch.manual_seed(0)
    pair = ReplacedTokenDetection(config, s)
    optimizer = torch.optim.AdamW(pair.parameters(), lr=3e-3)
    batch = collate(train_split, range(len(train_split.ids)))
    ids, attention = batch["input_ids"], batch["attention_mask"]

    def corrupted():
        _, targets = mask_tokens(ids, attention, replace(s, mask_prob=0.3), config.vocab_size)
        count = int((targets != -100).sum())
        samples = torch.randint(len(SPECIAL_TOKENS), config.vocab_size, (count,))
        replaced, labels = replace_tokens(ids, targets, samples)
        return replaced, labels[attention == 1]

    for _ in range(150):
        replaced, labels = corrupted()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            pair.replaced_logits(replaced, attention), labels
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    pair.eval()
    with torch.no_grad():
        replaced, labels = corrupted()
        told = pair.replaced_logits(replaced, attention) > 0
    real = 1 - labels.mean()
    accuracy = (told == labels.bool()).float().mean()
    assert accuracy > real + (1 - real) / 2  # most replacements found, not the base rate
