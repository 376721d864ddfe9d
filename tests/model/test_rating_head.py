"""The rating head: its calibration on dev, and the `stars` output it adds to a graph."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from model_service.inference import session_options
from training.rating_head import (
    Calibration,
    RatingHead,
    append_to_graph,
    expected_rating,
    fit_calibration,
    pooled_input,
)
from training.tiny import SAMPLE_REVIEWS

TEXTS = [text for text, _ in SAMPLE_REVIEWS]


def checkpoint_stars(checkpoint: Path, texts: list[str]) -> np.ndarray:
    """What the PyTorch checkpoint's own rating head and calibration say, in numpy."""
    import torch
    from transformers import AutoTokenizer

    from training.train import ReviewClassifier

    model = ReviewClassifier.load(checkpoint).eval()
    batch = AutoTokenizer.from_pretrained(checkpoint)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = model.classifier.bert(**batch).pooler_output.numpy()
    head = RatingHead.load(checkpoint)
    return head.calibration.stars(head.logits(pooled))


def synthetic_logits(n: int = 3000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, 10))


def test_the_expected_rating_is_the_mean_of_the_ratings_under_the_softmax():
    logits = np.log(np.array([[0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]]) + 1e-300)
    assert expected_rating(logits) == pytest.approx([5.5])
    # A higher temperature flattens the distribution towards the middle rating.
    sharp = np.array([[0.0] * 9 + [4.0]])
    assert expected_rating(sharp, 10.0)[0] < expected_rating(sharp, 1.0)[0] < 10
    assert Calibration(1.0, -20.0, 1.0).stars(sharp)[0] == 1.0  # clipped to [1, 10]
    assert Calibration(1.0, 20.0, 1.0).stars(sharp)[0] == 10.0


def test_calibration_recovers_a_known_affine_relation():
    logits = synthetic_logits()
    truth = Calibration(temperature=1.7, a=1.5, b=0.8)
    ratings = truth.a + truth.b * expected_rating(logits, truth.temperature)
    assert ratings.min() > 1 and ratings.max() < 10  # nothing clipped: the relation is exact

    fitted, dev = fit_calibration(logits, ratings)

    assert fitted.temperature == pytest.approx(truth.temperature, rel=1e-2)
    assert fitted.a == pytest.approx(truth.a, abs=1e-2)
    assert fitted.b == pytest.approx(truth.b, abs=1e-2)
    assert dev["rmse"] < 1e-3 and dev["mae"] < 1e-3
    assert dev["uncalibrated"]["rmse"] > 0.3  # the raw expected rating is off


def test_calibration_is_least_squares_on_noisy_whole_ratings():
    """Real ratings are whole stars that the head only partly explains: the fit matches the dev
    mean exactly, and its spread stays under the true one, which lowers the error."""
    logits = synthetic_logits(seed=1)
    signal = 1.0 + 1.1 * expected_rating(logits, 2.0)
    noise = np.random.default_rng(2).normal(scale=1.5, size=len(signal))
    ratings = np.clip(np.rint(signal + noise), 1, 10)

    fitted, dev = fit_calibration(logits, ratings)

    stars = fitted.stars(logits)
    assert dev["mean"] == pytest.approx(dev["true_mean"], abs=1e-3)
    assert dev["std"] < dev["true_std"]
    rmse = np.sqrt(np.mean((stars - ratings) ** 2))
    assert dev["rmse"] == pytest.approx(rmse)
    # Stretching the predictions to the true spread (equal mean and std) does worse.
    expected = expected_rating(logits, fitted.temperature)
    b = ratings.std() / expected.std()
    stretched = np.clip(ratings.mean() + b * (expected - expected.mean()), 1, 10)
    assert rmse < np.sqrt(np.mean((stretched - ratings) ** 2))
    assert dev["rmse"] < dev["uncalibrated"]["rmse"]


def test_the_stars_output_computes_the_calibrated_head_on_the_pooled_output(
    tiny_checkpoint: Path, tmp_path: Path
):
    from training.build import export_fp32

    head = RatingHead.load(tiny_checkpoint)
    assert head is not None and head.calibration is not None
    exported = export_fp32(str(tiny_checkpoint), tmp_path / "fp32")
    reads = append_to_graph(exported, head, head.calibration)

    assert reads.endswith("Tanh_output_0")  # the pooler's output, which the classifier reads
    graph = onnx.load(exported).graph
    stars = next(output for output in graph.output if output.name == "stars")
    assert stars.type.tensor_type.elem_type == TensorProto.FLOAT
    (batch,) = stars.type.tensor_type.shape.dim
    assert batch.dim_param == graph.output[0].type.tensor_type.shape.dim[0].dim_param
    session = ort.InferenceSession(str(exported), session_options(1))
    feed = _feed(tiny_checkpoint, TEXTS)
    served = session.run(["stars"], feed)[0]
    assert served.shape == (len(TEXTS),) and served.dtype == np.float32
    np.testing.assert_allclose(served, checkpoint_stars(tiny_checkpoint, TEXTS), atol=1e-4)


def _feed(checkpoint: Path, texts: list[str]) -> dict[str, np.ndarray]:
    from transformers import AutoTokenizer

    batch = AutoTokenizer.from_pretrained(checkpoint)(texts, padding=True, return_tensors="np")
    return {name: batch[name].astype(np.int64) for name in batch}


def _classifier_graph(activation: str, weight: np.ndarray):
    """x → (8-bit copy) → MatMul with the classifier's weight → logits."""
    nodes, constants = [], [numpy_helper.from_array(weight, "w")]
    x = "pooled"
    if activation == "qdq":
        constants += [
            numpy_helper.from_array(np.float32(0.1), "s"),
            numpy_helper.from_array(np.uint8(0), "z"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["pooled", "s", "z"], ["q"], "q"),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"], "dq"),
        ]
        x = "dq"
    elif activation == "dynamic":
        nodes.append(helper.make_node("DynamicQuantizeLinear", ["pooled"], ["q", "qs", "qz"], "d"))
        x = "q"
    nodes.append(helper.make_node("MatMul", [x, "w"], ["logits"], "classifier"))
    return helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [None, weight.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, weight.shape[1]])],
        constants,
    )


@pytest.mark.parametrize("activation", ["float", "qdq", "dynamic"])
def test_the_head_reads_the_float_tensor_behind_an_8_bit_copy(activation: str):
    graph = _classifier_graph(activation, np.zeros((8, 3), np.float32))
    assert pooled_input(graph, hidden=8) == "pooled"
    with pytest.raises(ValueError, match="another encoder"):
        pooled_input(graph, hidden=16)


def test_a_checkpoint_keeps_its_head_and_calibration(tmp_path: Path):
    rng = np.random.default_rng(3)
    head = RatingHead(rng.normal(size=(10, 4)).astype(np.float32), np.zeros(10, np.float32))
    head.save(tmp_path)
    loaded = RatingHead.load(tmp_path)
    np.testing.assert_array_equal(loaded.weight, head.weight)
    assert loaded.calibration is None  # never calibrated: the build serves the raw expectation
    calibrated = head.calibrated(Calibration(1.3, 0.5, 0.9), {"rmse": 1.0})
    calibrated.save(tmp_path)
    assert RatingHead.load(tmp_path).calibration == Calibration(1.3, 0.5, 0.9)
    head.save(tmp_path)  # new weights drop the old calibration with them
    assert RatingHead.load(tmp_path).calibration is None
    assert RatingHead.load(tmp_path / "elsewhere") is None
