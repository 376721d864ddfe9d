"""The model soup on tiny checkpoints: the mean of the weights, kept only when it beats them all."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification, PreTrainedTokenizerFast

from tests.model.test_train import train
from training.data import encode_split
from training.rating_head import RatingHead
from training.soup import SoupRefused, average, make_soup
from training.train import ReviewClassifier

NEUTRAL = 1


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model that has learnt the sample reviews (the dev split holds them too)."""
    out = tmp_path_factory.mktemp("trained")
    train(data_dir, out, "--pretrain-epochs", "0", "--epochs", "10", "--lr", "3e-3")
    return out / "checkpoint"


@pytest.fixture(scope="module")
def dev(trained: Path, data_dir: Path):
    return encode_split(
        PreTrainedTokenizerFast.from_pretrained(trained), data_dir / "dev.tsv.gz", None
    )


def shifted_copy(
    checkpoint: Path, out: Path, neutral_shift: float, rating_shift: float = 0.0
) -> Path:
    """The checkpoint with its neutral logit moved: a worse model, different only there (and,
    given `rating_shift`, in its rating head's weights)."""
    model = ReviewClassifier.load(checkpoint)
    with torch.no_grad():
        model.classifier.classifier.bias[NEUTRAL] += neutral_shift
        model.rating_head.weight += rating_shift
    model.save(out)
    PreTrainedTokenizerFast.from_pretrained(checkpoint).save_pretrained(out)
    return out


def test_the_soup_is_the_mean_of_the_weights(trained: Path, tmp_path: Path):
    a = ReviewClassifier.load(trained)
    b = ReviewClassifier.load(shifted_copy(trained, tmp_path / "b", 4.0, rating_shift=0.5))
    soup = average([a, b])
    assert soup.rating_head is not None
    for key, value in soup.state_dict().items():
        assert torch.allclose(value, (a.state_dict()[key] + b.state_dict()[key]) / 2), key


def test_a_soup_better_than_its_ingredients_is_written_with_its_report(
    trained: Path, dev, tmp_path: Path
):
    # Pushed 8 logits towards and away from neutral, each ingredient is far worse than the
    # checkpoint both came from; their mean is that checkpoint.
    towards = shifted_copy(trained, tmp_path / "towards", 8.0, rating_shift=0.3)
    away = shifted_copy(trained, tmp_path / "away", -8.0, rating_shift=-0.3)
    out = tmp_path / "soup"

    report = make_soup([towards, away], dev, out)

    scores = [m["score"] for m in report["soup_of"].values()]
    raw = report["dev_raw"]
    assert (raw["macro_f1"] + raw["binary_accuracy"]) / 2 > max(scores)
    assert json.loads((out / "training.json").read_text()) == report
    soup = BertForSequenceClassification.from_pretrained(out)
    original = BertForSequenceClassification.from_pretrained(trained)
    assert torch.allclose(soup.bert.pooler.dense.weight, original.bert.pooler.dense.weight)
    assert PreTrainedTokenizerFast.from_pretrained(out).get_vocab() == (
        PreTrainedTokenizerFast.from_pretrained(trained).get_vocab()
    )
    # The soup's rating head is the mean of the ingredients' (the checkpoint's own, here), its
    # calibration fitted on dev again and recorded in both places.
    head, original_head = RatingHead.load(out), RatingHead.load(trained)
    np.testing.assert_allclose(head.weight, original_head.weight, atol=1e-6)
    assert report["stars"]["calibration"] == {
        "temperature": head.calibration.temperature,
        "a": head.calibration.a,
        "b": head.calibration.b,
    }
    assert report["stars"]["dev"] == head.dev and head.dev["n"] == len(dev.ids)


def test_a_soup_of_checkpoints_without_rating_heads_has_none(trained: Path, dev, tmp_path: Path):
    headless = []
    for name, shift in (("towards", 8.0), ("away", -8.0)):
        path = shifted_copy(trained, tmp_path / name, shift)
        (path / "rating_head.safetensors").unlink()
        (path / "rating_head.json").unlink(missing_ok=True)
        headless.append(path)
    out = tmp_path / "soup"

    report = make_soup(headless, dev, out)

    assert report["stars"] is None and RatingHead.load(out) is None
    assert BertForSequenceClassification.from_pretrained(out).config.num_labels == 3


def test_a_soup_no_better_than_its_best_ingredient_is_refused(trained: Path, dev, tmp_path: Path):
    out = tmp_path / "soup"
    with pytest.raises(SoupRefused, match="no better than its best ingredient"):
        make_soup([trained, trained], dev, out)
    assert not out.exists()


def test_checkpoints_of_different_architectures_are_refused(trained: Path, dev, tmp_path: Path):
    model = BertForSequenceClassification.from_pretrained(trained)
    model.config.intermediate_size *= 2
    wider = BertForSequenceClassification(model.config)
    wider.save_pretrained(tmp_path / "wider")
    PreTrainedTokenizerFast.from_pretrained(trained).save_pretrained(tmp_path / "wider")
    with pytest.raises(SoupRefused, match="not the same architecture"):
        make_soup([trained, tmp_path / "wider"], dev, tmp_path / "soup")
