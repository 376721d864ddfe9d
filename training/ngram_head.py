"""An n-gram head for a sentiment checkpoint, trained here and mixed into its ONNX graph.

    python -m training ngram-head --checkpoint checkpoints/korean-sentiment-v3/checkpoint \
        --out checkpoints/korean-sentiment-v3/ngram-head
    python -m training build --source checkpoints/korean-sentiment-v3/checkpoint \
        --ngram-head checkpoints/korean-sentiment-v3/ngram-head ...

A TF-IDF logistic regression over the token unigrams, bigrams and trigrams of the same token ids
the transformer reads. It is a weak model alone, but a different kind of model errs on different
reviews: mixed with the default transformer it lifts dev macro-F1 by more than further training
of the transformer (README, model card). `training.build` appends it to both the
FP32 and the INT8 graph, after the encoder: the bundle stays one model.onnx whose `logits` output
is the mixture, so the inference module, the model service and the parity gate are unchanged.

The formula the graph computes (and `NgramHead.logits` restates in numpy, for training and tests):
for a text's grams g_1..g_n (n-grams of its token ids, bigrams and trigrams hashed into shared
buckets), head = sum_t weights[g_t] / sqrt(sum_t idf[g_t]^2) + bias; the graph's output is
(1 - mix) * transformer logits + head. Weights are the regression's coefficients times idf times
`mix`, and the bias carries the dev-tuned logit offsets, so the head adds no post-processing.
Every position counts (a gram repeated counts twice), which is what the graph can sum cheaply.

For a checkpoint with a rating head the head has a share of the stars too, when that lowers the
dev error: rating k's logit gains share * head[label of k] before the stars' softmax, and the
mixture is served with its own calibration (training.rating_head.StarsMix).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from model_service.inference import LABELS
from training.data import EncodedSplit, collate, dev_batches, encode_split, label_of
from training.metrics import headline_metrics
from training.options import DEFAULT_BUCKETS, DEFAULT_C, NgramHeadOptions
from training.rating_head import (
    RATING_LOGITS,
    RATINGS,
    Calibration,
    RatingHead,
    StarsMix,
    fit_calibration,
)
from training.tokenizer import default_max_tokens

log = logging.getLogger(__name__)

WEIGHTS_FILE, SETTINGS_FILE = "ngram_head.npz", "ngram_head.json"
# The shares of the head's logits in the rating logits tried on dev (0: the rating head alone).
STARS_SHARES = np.round(np.arange(0.0, 4.01, 0.25), 2)


@dataclass(frozen=True)
class NgramHead:
    """The head's tables (rows: vocabulary ids, then hashed bi/trigram buckets) and mixing."""

    vocab_size: int
    buckets: int
    max_tokens: int
    labels: list[str]
    vocabulary: str  # digest of the tokenizer's vocabulary: the ids the head was trained on
    mix: float  # the head's share: the transformer's logits are scaled by 1 - mix
    weights: np.ndarray  # (rows, classes): coefficient * idf * mix
    idf_squared: np.ndarray  # (rows,)
    bias: np.ndarray  # (classes,): intercept * mix + tuned logit offsets
    stars: StarsMix | None = None  # its share of the rating logits, if it lowered the dev error

    @property
    def rows(self) -> int:
        return self.vocab_size + self.buckets

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The head's share of the mixed logits for right-padded (batch, tokens) ids and mask."""
        out = np.empty((len(input_ids), len(self.labels)), dtype=np.float64)
        for row, (ids, mask) in enumerate(zip(input_ids, attention_mask, strict=True)):
            grams = gram_ids(ids[mask.astype(bool)], self.vocab_size, self.buckets)
            norm = np.sqrt(self.idf_squared[grams].astype(np.float64).sum())
            out[row] = self.weights[grams].astype(np.float64).sum(axis=0) / norm + self.bias
        return out

    def mixed(
        self, model_logits: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> np.ndarray:
        """What the built graph outputs: the transformer's logits mixed with the head's."""
        return (1 - self.mix) * model_logits + self.logits(input_ids, attention_mask)

    def mixed_ratings(
        self, rating_logits: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
    ) -> np.ndarray:
        """What the built graph's stars read: the rating head's logits with the head's share."""
        if self.stars is None:
            return rating_logits
        label_logits = self.logits(input_ids, attention_mask)
        return rating_logits + self.stars.share * label_logits[:, rating_labels(self.labels)]

    def save(self, directory: Path, report: dict | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / WEIGHTS_FILE,
            weights=self.weights.astype(np.float32),
            idf_squared=self.idf_squared.astype(np.float32),
            bias=self.bias.astype(np.float32),
        )
        settings = {
            "vocab_size": self.vocab_size,
            "buckets": self.buckets,
            "max_tokens": self.max_tokens,
            "labels": self.labels,
            "vocabulary": self.vocabulary,
            "mix": self.mix,
            "stars": None if self.stars is None else asdict(self.stars),
        }
        text = json.dumps(settings | {"training": report or {}}, indent=2)
        (directory / SETTINGS_FILE).write_text(text + "\n")

    @classmethod
    def load(cls, directory: Path) -> NgramHead:
        settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
        with np.load(directory / WEIGHTS_FILE) as tables:
            return cls(
                vocab_size=settings["vocab_size"],
                buckets=settings["buckets"],
                max_tokens=settings["max_tokens"],
                labels=list(settings["labels"]),
                vocabulary=settings["vocabulary"],
                mix=float(settings["mix"]),
                weights=tables["weights"],
                idf_squared=tables["idf_squared"],
                bias=tables["bias"],
                stars=StarsMix.from_json(settings["stars"]) if settings.get("stars") else None,
            )


def vocabulary_digest(vocabulary: dict[str, int]) -> str:
    """A short digest of a tokenizer's token → id map (`Tokenizer.get_vocab()`)."""
    text = json.dumps(sorted(vocabulary.items(), key=lambda item: item[1]), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rating_labels(labels: list[str]) -> np.ndarray:
    """For ratings 1..10, the column of their label among `labels`."""
    return np.array([labels.index(label_of(int(rating))) for rating in RATINGS], dtype=np.int64)


def gram_ids(ids: np.ndarray, vocab_size: int, buckets: int) -> np.ndarray:
    """Table rows of one text's grams: its token ids, then its bigrams and trigrams hashed."""
    ids = np.asarray(ids, dtype=np.int64)
    bigrams = ids[:-1] * vocab_size + ids[1:]
    trigrams = bigrams[:-1] * vocab_size + ids[2:]
    hashed = np.concatenate([bigrams, trigrams]) % buckets + vocab_size
    return np.concatenate([ids, hashed])


# ------------------------------------------------------------------------------------ graph


def append_to_graph(model_path: Path, head: NgramHead, *, eight_bit: bool) -> None:
    """Mix the head into an exported classifier's `logits` output, in place.

    The transformer's output is renamed and scaled by 1 - mix; the head's grams are made from
    `input_ids` in the graph (the hash of `gram_ids`), looked up in one table (8-bit with a scale
    per column for the INT8 bundle: it is the bundle's largest table), summed over the positions
    the right-padded `attention_mask` keeps, and added.
    """
    import onnx
    from onnx import TensorProto

    model = onnx.load(model_path)
    graph = model.graph
    inputs = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    if "attention_mask" not in inputs:
        raise ValueError("the n-gram head needs the model's attention_mask input")
    output = graph.output[0].name
    transformer = f"{output}/transformer"
    for node in graph.node:
        node.output[:] = [transformer if name == output else name for name in node.output]
    g = _HeadGraph()
    ids = "input_ids"
    if inputs[ids] != TensorProto.INT64:
        ids = g.op("Cast", [ids], "ids", to=TensorProto.INT64)
    grams = _grams(g, head, ids)
    # right padding: a bigram (trigram) is real when its last token is
    mask = g.op("Cast", ["attention_mask"], "mask", to=TensorProto.FLOAT)
    gram_mask = g.op(
        "Concat", [mask, g.tail(mask, 1, "mask2"), g.tail(mask, 2, "mask3")], "gram_mask", axis=1
    )
    rows = _table_rows(g, head, grams, eight_bit=eight_bit)
    sums = g.op(
        "MatMul", [g.op("Unsqueeze", [gram_mask, g.axis1], "weights_of_rows"), rows], "sums"
    )
    sums = g.op("Squeeze", [sums, g.axis1], "sums2d")
    classes = len(head.labels)
    scores = g.head(sums, classes, "scores")
    norm = g.op("Sqrt", [g.tail(sums, classes, "idf_squared_sum")], "norm")
    normalised = g.op("Div", [scores, norm], "normalised")
    bias = g.constant("bias", head.bias.astype(np.float32))
    head_logits = g.op("Add", [normalised, bias], "logits")
    share = g.constant("transformer_share", np.float32(1 - head.mix))
    scaled = g.op("Mul", [transformer, share], "transformer_scaled")
    g.op("Add", [scaled, head_logits], "mixed", output=output)
    if head.stars is not None:
        _mix_into_ratings(g, graph, head, head_logits)
    graph.node.extend(g.nodes)
    graph.initializer.extend(g.constants)
    onnx.save(model, model_path)


def _mix_into_ratings(g: _HeadGraph, graph, head: NgramHead, head_logits: str) -> None:
    """Rating k's logit += share * head_logits[:, label of k], before the stars' softmax."""
    gemm = next((node for node in graph.node if RATING_LOGITS in node.output), None)
    if gemm is None:
        raise ValueError("the n-gram head has a share of the stars, but the graph has no stars")
    alone = f"{RATING_LOGITS}/rating_head"
    gemm.output[:] = [alone if name == RATING_LOGITS else name for name in gemm.output]
    columns = g.constant("rating_labels", rating_labels(head.labels))
    per_rating = g.op("Gather", [head_logits, columns], "per_rating", axis=1)
    stars_share = g.constant("stars_share", np.float32(head.stars.share))
    shared = g.op("Mul", [per_rating, stars_share], "rating_share")
    g.op("Add", [alone, shared], "ratings_mixed", output=RATING_LOGITS)


class _HeadGraph:
    """The head's nodes and constants, named ngram/..., as they are made."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.constants: list = []
        self.end = self.constant("end", [2**62])
        self.zero = self.constant("zero", [0])
        self.axis1 = self.constant("axis1", [1])

    def constant(self, name: str, value) -> str:
        from onnx import numpy_helper

        self.constants.append(numpy_helper.from_array(np.asarray(value), f"ngram/{name}"))
        return f"ngram/{name}"

    def op(self, op_type: str, inputs: list[str], name: str, output: str = "", **attributes) -> str:
        from onnx import helper

        output = output or f"ngram/{name}"
        self.nodes.append(
            helper.make_node(op_type, inputs, [output], f"ngram/{name}", **attributes)
        )
        return output

    def tail(self, tensor: str, start: int, name: str) -> str:  # tensor[:, start:]
        start_at = self.constant(f"{name}/start", [start])
        return self.op("Slice", [tensor, start_at, self.end, self.axis1], name)

    def head(self, tensor: str, stop: int, name: str) -> str:  # tensor[:, :stop]
        stop_at = self.constant(f"{name}/stop", [stop])
        return self.op("Slice", [tensor, self.zero, stop_at, self.axis1], name)


def _grams(g: _HeadGraph, head: NgramHead, ids: str) -> str:
    """`gram_ids` in the graph: ids, then (ids[t] * V + ids[t+1]) and (bigram[t] * V + ids[t+2])
    hashed into the buckets after the vocabulary's rows."""
    vocab = g.constant("vocab_size", np.int64(head.vocab_size))
    left = g.head(g.op("Mul", [ids, vocab], "ids_v"), -1, "left")
    bigrams = g.op("Add", [left, g.tail(ids, 1, "right")], "bigrams")
    bigrams_v = g.op("Mul", [g.head(bigrams, -1, "bi_left"), vocab], "bi_v")
    trigrams = g.op("Add", [bigrams_v, g.tail(ids, 2, "third")], "trigrams")
    longer = g.op("Concat", [bigrams, trigrams], "longer", axis=1)
    hashed = g.op("Mod", [longer, g.constant("buckets", np.int64(head.buckets))], "hashed")
    return g.op("Concat", [ids, g.op("Add", [hashed, vocab], "bucket_rows")], "grams", axis=1)


def _table_rows(g: _HeadGraph, head: NgramHead, grams: str, *, eight_bit: bool) -> str:
    """The grams' table rows: weights and idf squared, 8-bit (a scale per column) or float."""
    table = np.concatenate([head.weights, head.idf_squared[:, None]], axis=1).astype(np.float32)
    if not eight_bit:
        return g.op("Gather", [g.constant("table", table), grams], "rows", axis=0)
    scale = np.abs(table).max(axis=0) / 127
    scale[scale == 0] = 1
    quantized = np.round(table / scale).astype(np.int8)
    rows = g.op("Gather", [g.constant("table", quantized), grams], "rows8", axis=0)
    dequantize = [
        rows,
        g.constant("scale", scale.astype(np.float32)),
        g.constant("zero_point", np.zeros(len(scale), np.int8)),
    ]
    return g.op("DequantizeLinear", dequantize, "rows", axis=2)


# --------------------------------------------------------------------------------- training


def tfidf_rows(grams: list[np.ndarray], idf: np.ndarray, rows: int):
    """The texts' feature rows as a sparse CSR tensor: idf per position, normalised as the graph."""
    import torch

    lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
    columns = np.concatenate(grams)
    text_of = np.repeat(np.arange(len(grams)), lengths)
    norms = np.sqrt(np.bincount(text_of, weights=idf[columns] ** 2, minlength=len(grams)))
    values = idf[columns] / norms[text_of]
    crow = np.concatenate([[0], np.cumsum(lengths)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse", UserWarning)  # "beta state", checks off
        return torch.sparse_csr_tensor(
            torch.from_numpy(crow),
            torch.from_numpy(columns),
            torch.from_numpy(values.astype(np.float32)),
            size=(len(grams), rows),
        )


def inverse_document_frequency(grams: list[np.ndarray], rows: int) -> np.ndarray:
    """Smoothed idf (as scikit-learn's TfidfVectorizer): ln((1 + n) / (1 + df)) + 1."""
    df = np.zeros(rows)
    for text in grams:
        df[np.unique(text)] += 1
    return np.log((1 + len(grams)) / (1 + df)) + 1


def fit_logistic_regression(
    features, labels: np.ndarray, classes: int, l2: float, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch L-BFGS: mean cross-entropy + l2/2 |W|^2.

    The gradient is written out rather than left to autograd: autograd's sparse backward pass
    through a CSR product is far slower than a product with a transposed copy made once.
    """
    import torch

    transposed = features.t().to_sparse_csr()
    targets = torch.from_numpy(labels)
    one_hot = torch.nn.functional.one_hot(targets, classes).float()
    weights = torch.zeros(features.shape[1], classes)
    intercept = torch.zeros(classes)
    optimizer = torch.optim.LBFGS(
        [weights, intercept],
        max_iter=iterations,
        history_size=20,
        tolerance_grad=1e-6,
        tolerance_change=1e-9,
        line_search_fn="strong_wolfe",
    )
    evaluations = 0

    def loss() -> torch.Tensor:
        nonlocal evaluations
        log_probs = torch.log_softmax(features @ weights + intercept, dim=1)
        value = -(log_probs * one_hot).sum() / len(targets) + l2 / 2 * weights.pow(2).sum()
        residual = (log_probs.exp() - one_hot) / len(targets)
        weights.grad = transposed @ residual + l2 * weights
        intercept.grad = residual.sum(dim=0)
        evaluations += 1
        if evaluations % 25 == 0:
            log.info("L-BFGS evaluation %d: loss %.5f", evaluations, value.item())
        return value

    optimizer.step(loss)
    return weights.numpy(), intercept.numpy()


def tune_mix(
    model_log_probs: np.ndarray, head_log_probs: np.ndarray, labels: np.ndarray
) -> tuple[float, np.ndarray, dict]:
    """The head's share and the logit offsets with the best dev macro-F1, among those that keep
    dev binary accuracy at least the transformer's own.

    Macro-F1 is the measure of the three-way decision the offsets set; the floor keeps the mix
    from buying it with the two-class (NSMC-comparable) accuracy. Mix 0 (the transformer alone,
    its own offsets) is the candidate to beat.
    """
    best = (0.0, np.zeros(3, dtype=np.float32), headline_metrics(model_log_probs, labels))
    floor = best[2]["binary_accuracy"]
    steps = np.round(np.arange(-1.0, 1.001, 0.05), 2)
    for mix in np.round(np.arange(0.05, 0.71, 0.05), 2):
        mixed = (1 - mix) * model_log_probs + mix * head_log_probs
        for neutral in steps:
            for positive in steps:
                offsets = np.array([0.0, neutral, positive], dtype=np.float32)
                metrics = headline_metrics(mixed + offsets, labels)
                if (
                    metrics["binary_accuracy"] >= floor
                    and metrics["macro_f1"] > best[2]["macro_f1"]
                ):
                    best = (float(mix), offsets, metrics)
    return best


def split_grams(split: EncodedSplit, vocab_size: int, buckets: int) -> list[np.ndarray]:
    """The grams of an encoded split's texts."""
    return [gram_ids(ids, vocab_size, buckets) for ids in split.ids]


def checkpoint_outputs(
    checkpoint: Path, split: EncodedSplit, rating_head: RatingHead | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The transformer's log-probabilities on an encoded split (columns in its label order), and
    its rating head's logits (None for a checkpoint without one)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    out = np.empty((len(split.ids), model.config.num_labels), dtype=np.float32)
    ratings = None if rating_head is None else np.empty((len(split.ids), len(RATINGS)))
    with torch.no_grad():
        for index in dev_batches(split, 256):
            batch = collate(split, index)
            feed = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            if rating_head is None:
                logits = model(**feed).logits
            else:  # the pooled output both heads read (a checkpoint of training.train)
                pooled = model.bert(**feed).pooler_output
                logits = model.classifier(pooled)
                ratings[index] = rating_head.logits(pooled.numpy())
            out[index] = torch.log_softmax(logits, dim=-1).numpy()
    return out, ratings


def tune_stars_mix(
    rating_logits: np.ndarray, label_logits: np.ndarray, labels: list[str], ratings: np.ndarray
) -> tuple[float, Calibration, dict]:
    """The head's share of the rating logits and the calibration with the least dev squared
    error of the stars; share 0, the rating head alone, is the candidate to beat.
    `label_logits` are the head's as served (columns in `labels` order), `ratings` 1..10."""
    per_rating = label_logits[:, rating_labels(labels)]
    best = None
    for share in STARS_SHARES:
        calibration, figures = fit_calibration(rating_logits + share * per_rating, ratings)
        if best is None or figures["rmse"] < best[2]["rmse"]:
            best = (float(share), calibration, figures)
    return best


def train(
    checkpoint: Path,
    data_dir: Path,
    *,
    buckets: int = DEFAULT_BUCKETS,
    c: float = DEFAULT_C,
    iterations: int = 300,
    train_limit: int | None = None,
) -> tuple[NgramHead, dict]:
    """Fit the head on the training split and tune its mix with the checkpoint on dev."""
    started = time.perf_counter()
    tokenizer, labels, max_tokens = bundle_tokenizer(checkpoint)
    vocab_size = tokenizer.backend_tokenizer.get_vocab_size()
    rows = vocab_size + buckets
    train_split = encode_split(tokenizer, data_dir / "train.tsv.gz", train_limit)
    train_grams = split_grams(train_split, vocab_size, buckets)
    idf = inverse_document_frequency(train_grams, rows)
    # encode_split labels in LABELS order; the regression's columns follow the checkpoint's.
    y = np.array([labels.index(label) for label in LABELS])[train_split.labels]
    log.info("fitting on %d reviews, %d features", len(y), rows)
    # scikit-learn's C weighs the summed loss; here the loss is a mean, so the L2 term scales.
    coefficients, intercept = fit_logistic_regression(
        tfidf_rows(train_grams, idf, rows),
        y,
        len(labels),
        l2=1 / (c * len(y)),
        iterations=iterations,
    )
    dev_split = encode_split(tokenizer, data_dir / "dev.tsv.gz", None)
    dev_features = tfidf_rows(split_grams(dev_split, vocab_size, buckets), idf, rows)
    head_logits = linear_logits(dev_features, coefficients) + intercept
    rating_head = RatingHead.load(checkpoint)
    model_log_probs, rating_logits = checkpoint_outputs(checkpoint, dev_split, rating_head)
    mix, offsets, dev = _mix_on_dev(model_log_probs, labels, dev_split, head_logits)
    served_logits = mix * head_logits + offsets  # what the graph's head adds
    stars, dev["stars"] = _stars_on_dev(
        rating_head, rating_logits, served_logits, labels, dev_split
    )
    head = NgramHead(
        vocab_size=vocab_size,
        buckets=buckets,
        max_tokens=max_tokens,
        labels=labels,
        vocabulary=vocabulary_digest(tokenizer.backend_tokenizer.get_vocab()),
        mix=mix,
        weights=(coefficients * idf[:, None] * mix).astype(np.float32),
        idf_squared=(idf**2).astype(np.float32),
        bias=(mix * intercept + offsets).astype(np.float32),
        stars=stars,
    )
    report = {
        "checkpoint": str(checkpoint),
        "train_reviews": len(y),
        "c": c,
        "iterations": iterations,
        "dev": dev,
        "logit_offsets": offsets.tolist(),
        "minutes": round((time.perf_counter() - started) / 60, 1),
    }
    return head, report


def bundle_tokenizer(checkpoint: Path):
    """The checkpoint's tokenizer, cut where the bundle will cut; its labels and max tokens."""
    from transformers import AutoConfig, PreTrainedTokenizerFast

    config = AutoConfig.from_pretrained(checkpoint)
    labels = [config.id2label[i] for i in range(config.num_labels)]
    if sorted(labels) != ["negative", "neutral", "positive"]:
        raise SystemExit(f"{checkpoint}: an n-gram head needs a three-class checkpoint")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(checkpoint)
    max_tokens = default_max_tokens(tokenizer, config)
    tokenizer.model_max_length = max_tokens  # what encode_split truncates to: the bundle's ids
    return tokenizer, labels, max_tokens


def linear_logits(features, coefficients: np.ndarray) -> np.ndarray:
    import torch

    return (features @ torch.from_numpy(coefficients)).numpy()


def _mix_on_dev(
    model_log_probs: np.ndarray, labels: list[str], dev_split: EncodedSplit, head_logits: np.ndarray
) -> tuple[float, np.ndarray, dict]:
    """The tuned mix, the logit offsets in the checkpoint's label order, and the dev figures."""
    # Metrics and offsets work in LABELS order (as dev_split.labels); the head keeps the
    # checkpoint's.
    canonical = [labels.index(label) for label in LABELS]
    head_log_probs = _log_softmax(head_logits)[:, canonical]
    model_log_probs = model_log_probs[:, canonical]
    gold = dev_split.labels
    mix, offsets, mixed = tune_mix(model_log_probs, head_log_probs, gold)
    dev = {
        "checkpoint": headline_metrics(model_log_probs, gold),
        "head_alone": headline_metrics(head_log_probs, gold),
        "mixed": mixed,
    }
    return mix, offsets[np.argsort(canonical)], dev


def _stars_on_dev(
    rating_head: RatingHead | None,
    rating_logits: np.ndarray | None,
    served_logits: np.ndarray,
    labels: list[str],
    dev_split: EncodedSplit,
) -> tuple[StarsMix | None, dict | None]:
    """The head's share of the stars (None when none lowers the dev error, or the checkpoint
    has no rating head) and the dev figures of the rating head alone and mixed."""
    if rating_logits is None:
        return None, None
    ratings = dev_split.ratings + 1
    share, calibration, mixed = tune_stars_mix(rating_logits, served_logits, labels, ratings)
    alone = fit_calibration(rating_logits, ratings)[1]
    figures = {
        "rating_head_alone": {key: alone[key] for key in ("mae", "rmse")},
        "share": share,
        "mixed": {key: mixed[key] for key in ("mae", "rmse")},
    }
    if share == 0:
        return None, figures
    return StarsMix(share, calibration, rating_head=rating_head.digest, dev=mixed), figures


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def main(options: NgramHeadOptions) -> int:
    """`python -m training ngram-head`: train the head and save it beside its report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    head, report = train(
        options.checkpoint,
        options.data_dir,
        buckets=options.buckets,
        c=options.c,
        iterations=options.iterations,
        train_limit=options.train_limit,
    )
    head.save(options.out, report)
    print(json.dumps(asdict(head) | {"weights": None, "idf_squared": None, "bias": None}))
    print(json.dumps(report["dev"], indent=2))
    return 0
