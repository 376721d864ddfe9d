"""The rating head: a fine-tuned checkpoint's star rating, calibrated on dev, served as `stars`.

Fine-tuning trains a 10-way head over the pooled output beside the sentiment classifier (row k is
rating k + 1). The checkpoint directory keeps it beside the Hugging Face files:

    rating_head.safetensors   weight (10, hidden), bias (10,)
    rating_head.json          the calibration fitted on dev and the dev figures it reached

A checkpoint without these files (a hub model, one trained before the head was kept) is still a
checkpoint; its bundles simply have no stars. `python -m training build` appends the head to both
graphs as a second output, `stars` (float32, one per text):

    stars = clip(a + b · Σ_k softmax(logits / T)_k · k, 1, 10),   k = 1..10

the expected rating under the head's distribution, mapped by the dev-fitted affine.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model_service.inference import STARS_OUTPUT  # the graph output the model service reads

log = logging.getLogger(__name__)

WEIGHTS_FILE, CALIBRATION_FILE = "rating_head.safetensors", "rating_head.json"
# The head's logits in the graph: the n-gram head, when it has a share of the stars, adds to them.
RATING_LOGITS = "stars/logits"
RATINGS = np.arange(1, 11, dtype=np.float64)

# The temperatures searched: a coarse log-spaced grid, then a bounded refinement around the best.
TEMPERATURE_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Calibration:
    """stars = clip(a + b · E_T, 1, 10), E_T the expected rating under softmax(logits / T)."""

    temperature: float = 1.0
    a: float = 0.0
    b: float = 1.0

    def expected(self, logits: np.ndarray) -> np.ndarray:
        return expected_rating(logits, self.temperature)

    def stars(self, logits: np.ndarray) -> np.ndarray:
        return np.clip(self.a + self.b * self.expected(logits), 1.0, 10.0)


@dataclass(frozen=True)
class StarsMix:
    """Another head's label logits mixed into the rating logits: rating k's logit gains `share`
    times that head's logit for k's label (training.data.label_of). The mixture is served with
    its own calibration, fitted on dev for `rating_head` (a RatingHead.digest): the calibration
    the checkpoint keeps is the head's alone."""

    share: float
    calibration: Calibration
    rating_head: str
    dev: dict

    @classmethod
    def from_json(cls, saved: dict) -> StarsMix:
        return cls(
            share=float(saved["share"]),
            calibration=Calibration(**saved["calibration"]),
            rating_head=saved["rating_head"],
            dev=saved["dev"],
        )


def expected_rating(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Σ_k softmax(logits / T)_k · k over ratings 1..10, one per row."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities @ RATINGS


def _affine(expected: np.ndarray, ratings: np.ndarray) -> tuple[float, float]:
    """a, b of the least-squares line ratings ≈ a + b · expected (the mean matches exactly)."""
    # Least squares, not a line that also matches the spread: stretching the predictions to the
    # true ratings' spread adds the part of that spread they cannot explain, and raises RMSE.
    spread = expected.var()
    b = 0.0  # predictions that do not vary: the best line is the mean
    if spread > 1e-12:
        b = float(np.mean((expected - expected.mean()) * (ratings - ratings.mean())) / spread)
    return float(ratings.mean() - b * expected.mean()), b


def _squared_error(logits: np.ndarray, ratings: np.ndarray, temperature: float) -> float:
    expected = expected_rating(logits, temperature)
    a, b = _affine(expected, ratings)
    return float(np.mean((np.clip(a + b * expected, 1, 10) - ratings) ** 2))


def fit_calibration(logits: np.ndarray, ratings: np.ndarray) -> tuple[Calibration, dict]:
    """T by a 1-D search and a, b by least squares, for the least dev squared error of the
    clipped stars; returns the calibration and its dev figures (and the raw head's, T=1, a=0,
    b=1, for comparison). `ratings` are the true ratings, 1..10."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    ratings = np.asarray(ratings, dtype=np.float64)
    if len(ratings) < 2:
        raise ValueError("calibrating the rating head needs at least two dev reviews")
    grid = np.geomspace(*TEMPERATURE_RANGE, 41)
    errors = [_squared_error(logits, ratings, t) for t in grid]
    best = int(np.argmin(errors))
    low, high = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)])
    refined = minimize_scalar(
        lambda log_t: _squared_error(logits, ratings, float(np.exp(log_t))),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = float(np.exp(refined.x)) if refined.fun <= errors[best] else float(grid[best])
    a, b = _affine(expected_rating(logits, temperature), ratings)
    calibration = Calibration(temperature, a, b)
    figures = dev_figures(calibration.stars(logits), ratings)
    raw = dev_figures(Calibration().stars(logits), ratings)
    return calibration, figures | {"uncalibrated": {k: raw[k] for k in ("mae", "rmse", "mean")}}


def dev_figures(stars: np.ndarray, ratings: np.ndarray) -> dict:
    """MAE, RMSE and the mean and spread of predicted and true stars."""
    error = np.asarray(stars, dtype=np.float64) - ratings
    return {
        "n": len(ratings),
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "mean": float(np.mean(stars)),
        "std": float(np.std(stars)),
        "true_mean": float(np.mean(ratings)),
        "true_std": float(np.std(ratings)),
    }


@dataclass(frozen=True)
class RatingHead:
    """The head's weights and, once fitted on dev, its calibration and dev figures."""

    weight: np.ndarray  # (10, hidden): row k scores rating k + 1
    bias: np.ndarray  # (10,)
    calibration: Calibration | None = None
    dev: dict | None = None

    @property
    def hidden(self) -> int:
        return int(self.weight.shape[1])

    @property
    def digest(self) -> str:
        """A short digest of the weights: what a calibration or a mix was fitted for."""
        weights = np.concatenate([self.weight.ravel(), self.bias]).astype(np.float32)
        return hashlib.sha256(weights.tobytes()).hexdigest()[:16]

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        return np.asarray(pooled, dtype=np.float64) @ self.weight.T + self.bias

    def calibrated(self, calibration: Calibration, dev: dict) -> RatingHead:
        return RatingHead(self.weight, self.bias, calibration, dev)

    def save(self, directory: Path) -> None:
        """The weights, and rating_head.json when the head has been calibrated."""
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            "weight": np.ascontiguousarray(self.weight, dtype=np.float32),
            "bias": np.ascontiguousarray(self.bias, dtype=np.float32),
        }
        save_file(tensors, directory / WEIGHTS_FILE)
        record = directory / CALIBRATION_FILE
        if self.calibration is None:
            record.unlink(missing_ok=True)  # a calibration of other weights would be wrong
            return
        text = json.dumps({"calibration": asdict(self.calibration), "dev": self.dev}, indent=2)
        record.write_text(text + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> RatingHead | None:
        """The head kept in a checkpoint directory; None when it has none."""
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / WEIGHTS_FILE).is_file():
            return None
        tensors = load_file(directory / WEIGHTS_FILE)
        weight, bias = tensors["weight"], tensors["bias"]
        if weight.ndim != 2 or weight.shape[0] != len(RATINGS) or bias.shape != (len(RATINGS),):
            raise ValueError(
                f"{directory / WEIGHTS_FILE}: expected weight (10, hidden) and bias (10,), got "
                f"{weight.shape} and {bias.shape}"
            )
        record = directory / CALIBRATION_FILE
        if not record.is_file():
            return cls(weight, bias)
        saved = json.loads(record.read_text(encoding="utf-8"))
        return cls(weight, bias, Calibration(**saved["calibration"]), saved.get("dev"))


# ------------------------------------------------------------------------------------ graph


def pooled_input(graph, hidden: int) -> str:
    """The tensor the sequence classifier reads: the first input of the first MatMul/Gemm met
    walking back from the `logits` output, read past any 8-bit copy of it (QDQ or dynamic).
    Its weight must be `hidden` wide, the head's width."""
    producers = {out: node for node in graph.node for out in node.output}
    constants = {t.name: t for t in graph.initializer}
    frontier, seen = [graph.output[0].name], set()
    while frontier:
        node = producers.get(frontier.pop(0))
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ("Gemm", "MatMul", "MatMulInteger"):
            weight = constants.get(_float_source(node.input[1], producers))
            if weight is not None and hidden not in weight.dims:
                raise ValueError(
                    f"the classifier {node.name} reads {list(weight.dims)} weights; the rating "
                    f"head is {hidden} wide: it was trained on another encoder"
                )
            return _float_source(node.input[0], producers)
        frontier.extend(name for name in node.input if name and name not in constants)
    raise ValueError("no MatMul or Gemm feeds the graph's logits: cannot find the pooled output")


def _float_source(name: str, producers: dict) -> str:
    """The float tensor an 8-bit copy was made of (the weight's int8 table for a weight)."""
    node = producers.get(name)
    if node is not None and node.op_type == "DequantizeLinear":
        quantize = producers.get(node.input[0])
        if quantize is None:
            return node.input[0]
        if quantize.op_type == "QuantizeLinear":
            return quantize.input[0]
    if node is not None and node.op_type == "DynamicQuantizeLinear":
        return node.input[0]
    return name


def append_to_graph(model_path: Path, head: RatingHead, calibration: Calibration) -> str:
    """Add the `stars` output to an exported classifier's graph, in place; returns the name of
    the tensor the head reads.

    The head reads the tensor the classifier reads (the pooled output) and stays float in 8-bit
    graphs too, as the classifier's own Gemm does: ten rows, nothing worth quantizing.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(model_path)
    graph = model.graph
    if any(output.name == STARS_OUTPUT for output in graph.output):
        raise ValueError(f"{model_path} already has a {STARS_OUTPUT!r} output")
    pooled = pooled_input(graph, head.hidden)
    constants = {
        "weight": head.weight.astype(np.float32),
        "bias": head.bias.astype(np.float32),
        "temperature": np.float32(calibration.temperature),
        "ratings": RATINGS.astype(np.float32),
        "axis": np.array([1], dtype=np.int64),
        "b": np.float32(calibration.b),
        "a": np.float32(calibration.a),
        "lowest": np.float32(1.0),
        "highest": np.float32(10.0),
    }
    graph.initializer.extend(
        numpy_helper.from_array(np.asarray(value), f"stars/{name}")
        for name, value in constants.items()
    )
    steps = [  # (op, inputs, output, attributes)
        ("Gemm", [pooled, "stars/weight", "stars/bias"], RATING_LOGITS, {"transB": 1}),
        ("Div", [RATING_LOGITS, "stars/temperature"], "stars/tempered", {}),
        ("Softmax", ["stars/tempered"], "stars/probabilities", {"axis": -1}),
        ("Mul", ["stars/probabilities", "stars/ratings"], "stars/weighted", {}),
        ("ReduceSum", ["stars/weighted", "stars/axis"], "stars/expected", {"keepdims": 0}),
        ("Mul", ["stars/expected", "stars/b"], "stars/scaled", {}),
        ("Add", ["stars/scaled", "stars/a"], "stars/shifted", {}),
        ("Clip", ["stars/shifted", "stars/lowest", "stars/highest"], STARS_OUTPUT, {}),
    ]
    for op, inputs, output, attributes in steps:
        name = output if output.startswith("stars/") else "stars/clip"
        graph.node.append(helper.make_node(op, inputs, [output], name, **attributes))
    batch = graph.output[0].type.tensor_type.shape.dim[0]
    stars = helper.make_tensor_value_info(STARS_OUTPUT, TensorProto.FLOAT, [None])
    stars.type.tensor_type.shape.dim[0].CopyFrom(batch)
    graph.output.append(stars)
    onnx.save(model, model_path)
    return pooled


def card_entry(
    head: RatingHead | None,
    calibration: Calibration | None,
    pooled: str | None,
    mix: StarsMix | None = None,
) -> dict | None:
    """What the bundle's card says of its stars (and of the share another head has in them)."""
    if head is None or calibration is None:
        return None
    entry = {
        "head": {
            "ratings": RATINGS.astype(int).tolist(),
            "hidden": head.hidden,
            "reads": pooled,
            "graph": "float in both graphs, as the classifier's own Gemm",
        },
        # With a mix, `calibration` is the mix's own, fitted on dev by training.ngram_head.
        "calibration": asdict(calibration)
        | {"fitted_on_dev": mix is not None or head.calibration is not None},
        "dev": head.dev,
    }
    if mix is not None:
        entry |= {"ngram_head_share": mix.share, "dev": mix.dev, "head_alone_dev": head.dev}
    return entry
