"""Average fine-tuned checkpoints that share one pre-trained encoder into one model (a model soup).

Runs fine-tuned from the same encoder with different schedules end in one basin of the loss, where
the mean of their weights tends to score higher than each of them, at the cost of one model: the
served graph, its size and its latency do not change. The soup is kept only if it beats every
ingredient on dev; its logit offsets are re-tuned on dev and folded into the classifier bias, and
its rating head (the mean of the ingredients', when every one keeps one) is calibrated on dev
again, as `python -m training train` does for a single run. The result is a checkpoint directory
that `python -m training build` exports.

    python -m training soup --checkpoint checkpoints/a/checkpoint \\
        --checkpoint checkpoints/b/checkpoint --out checkpoints/soup
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast

from training.data import EncodedSplit, encode_split
from training.metrics import headline_metrics, score, tune_logit_offsets
from training.options import SoupOptions
from training.tokenizer import vocabulary
from training.train import (
    ReviewClassifier,
    calibrate_stars,
    mean_classifier,
    predict,
    predict_log_probs,
    stars_report,
)

log = logging.getLogger(__name__)


class SoupRefused(RuntimeError):
    """The checkpoints cannot be averaged, or their average is not better."""


def load_ingredients(paths: list[Path]) -> list[ReviewClassifier]:
    """The checkpoints, refused unless they are the same architecture over the same vocabulary."""
    models = [ReviewClassifier.load(path) for path in paths]
    config, vocab = models[0].classifier.config.to_diff_dict(), vocabulary(paths[0])
    for path, model in zip(paths[1:], models[1:], strict=True):
        if model.classifier.config.to_diff_dict() != config or vocabulary(path) != vocab:
            raise SoupRefused(f"{path} is not the same architecture and vocabulary as {paths[0]}")
    headless = [
        str(path) for path, model in zip(paths, models, strict=True) if model.rating_head is None
    ]
    if headless and len(headless) < len(paths):
        log.warning("no rating head in %s: the soup has none (no stars)", ", ".join(headless))
    return models


def average(models: list[ReviewClassifier]) -> ReviewClassifier:
    return mean_classifier([model.state_dict() for model in models], models[0].classifier.config)


def dev_report(model: ReviewClassifier, dev: EncodedSplit) -> dict:
    metrics = headline_metrics(predict_log_probs(model, dev), dev.labels)
    return metrics | {"score": score(metrics)}


def make_soup(paths: list[Path], dev: EncodedSplit, out_dir: Path) -> dict:
    """The averaged checkpoint written to out_dir with the first ingredient's tokenizer."""
    if len(paths) < 2:
        raise SoupRefused("a soup needs at least two checkpoints")
    models = load_ingredients(paths)
    ingredients = {
        str(path): dev_report(model, dev) for path, model in zip(paths, models, strict=True)
    }
    soup = average(models)
    log_probs, rating_logits = predict(soup, dev)
    raw = headline_metrics(log_probs, dev.labels)
    best = max(ingredients.values(), key=lambda m: m["score"])
    if score(raw) <= best["score"]:
        raise SoupRefused(
            f"the soup scores {score(raw):.4f} on dev, no better than its best ingredient "
            f"({best['score']:.4f}); nothing written"
        )
    offsets, tuned = tune_logit_offsets(log_probs, dev.labels)
    with torch.no_grad():
        soup.classifier.classifier.bias += torch.from_numpy(offsets)
    calibration, stars = calibrate_stars(rating_logits, dev)
    soup.save(out_dir, calibration, stars)
    PreTrainedTokenizerFast.from_pretrained(paths[0]).save_pretrained(out_dir)
    report = {
        "soup_of": ingredients,
        "dev_raw": raw,
        "dev_tuned": tuned,
        "logit_offsets": offsets.tolist(),
        "stars": stars_report(calibration, stars),
    }
    (out_dir / "training.json").write_text(json.dumps(report, indent=2))
    return report


def main(options: SoupOptions) -> int:
    """`python -m training soup`: the soup written to --out, or a refusal that says why."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(options.checkpoint[0])
    dev = encode_split(tokenizer, options.data_dir / "dev.tsv.gz", None)
    try:
        report = make_soup(options.checkpoint, dev, options.out)
    except SoupRefused as refusal:
        raise SystemExit(f"soup refused: {refusal}") from None
    log.info("dev raw %s tuned %s", report["dev_raw"], report["dev_tuned"])
    return 0
