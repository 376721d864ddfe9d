"""The benchmark's FP32 twin of a bundle: the checkpoint exported with the heads the build added."""

from pathlib import Path

import numpy as np

from model_service.inference import SentimentModel
from scripts.bench.benchmark import BenchOptions, fp32_bundle
from training.tiny import SAMPLE_REVIEWS

TEXTS = [text for text, _ in SAMPLE_REVIEWS]


def test_the_twin_is_the_checkpoint_exported_with_its_stars(tiny_bundle: Path, tmp_path: Path):
    options = BenchOptions(
        bundle=tiny_bundle, out=tmp_path / "out", data=tmp_path / "unused.tsv.gz", fp32=None,
        duration_s=0, warmup_s=0, in_process_s=0, sample=0, latency_texts=0, eval_limit=None,
        workers=1, quick=True,
    )  # fmt: skip
    twin, origin = fp32_bundle(options, tmp_path / "work")
    assert twin is not None and origin.startswith("Optimum ONNX export of the checkpoint")
    fp32_probabilities, fp32_stars, _ = SentimentModel.load(twin).infer(TEXTS)
    int8_probabilities, int8_stars, _ = SentimentModel.load(tiny_bundle).infer(TEXTS)
    assert fp32_stars is not None  # the bundle serves stars; its twin must have them too
    # What the build's parity gate held the INT8 model to.
    assert np.abs(fp32_stars - int8_stars).max() <= 0.2
    agreement = (fp32_probabilities.argmax(1) == int8_probabilities.argmax(1)).mean()
    assert agreement >= 0.9
