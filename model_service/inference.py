"""Sentiment inference over an INT8 ONNX model bundle: tokenize, run, softmax, map labels.

A plain module (no BentoML): the model service, the evaluation script and the tests all run it,
and it is the one place where a bundle's logits become negative / neutral / positive.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

LABELS = ("negative", "neutral", "positive")
NEUTRAL = LABELS.index("neutral")
POSITIVE = LABELS.index("positive")

# A sub-batch holds at most this many texts and this many (padded) tokens: large enough to amortise
# one ONNX run, small enough that a long review does not pad a whole batch of short ones and that
# a run's activations stay in the CPU cache (docs/benchmarks/FINDINGS.md, section 1).
MAX_SUB_BATCH = 64
MAX_SUB_BATCH_TOKENS = 256

# onnxruntime's CPU SkipLayerNormalization kernel is slower than the two Adds and the
# LayerNormalization it replaces at review lengths (docs/benchmarks/FINDINGS.md, section 5):
# bundles are built without it, and sessions must not fuse it back in at load.
UNFUSED_OPTIMIZERS = "SkipLayerNormFusion"

_NUMPY_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}

# The graph output of a bundle built from a checkpoint with a rating head: the calibrated
# expected star rating (1–10), one per text (training/rating_head.py). Bundles without it have
# no stars, and their predictions say so (None), never a guess.
STARS_OUTPUT = "stars"


@dataclass(frozen=True)
class Prediction:
    """The sentiment of one text, as the model service returns it."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    positivity: float
    stars: float | None  # 1–10, two decimals; None when the bundle has no rating head
    model: str
    truncated: bool

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "positivity": self.positivity,
            "stars": self.stars,
            "model": self.model,
            "truncated": self.truncated,
        }


def available_cores() -> int:
    """Cores this process may really use: its affinity mask, capped by a cgroup CPU quota.

    A container limited to 2 CPUs on a 64-core host still sees 64 cores in its affinity mask;
    sizing onnxruntime's threads from that would oversubscribe the quota.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without sched_getaffinity
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota)) if quota else cores


def _cgroup_cpu_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """Whole CPUs allowed by a cgroup v2 quota ("200000 100000" → 2), None when unlimited."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return math.ceil(int(quota) / int(period))


def read_card(bundle_dir: str | Path) -> dict:
    """The bundle's card.json, checked for what inference relies on."""
    card = json.loads((Path(bundle_dir) / "card.json").read_text(encoding="utf-8"))
    labels = card.get("labels")
    if not isinstance(labels, list) or sorted(labels) not in (
        sorted(LABELS),
        ["negative", "positive"],
    ):
        raise ValueError(
            f"{bundle_dir}/card.json: 'labels' must list negative, neutral, positive "
            f"(or negative, positive) in logit order; got {labels!r}"
        )
    threshold = card.get("neutral_threshold")
    if len(labels) == 2 and not (isinstance(threshold, int | float) and 0.5 <= threshold <= 1):
        raise ValueError(
            f"{bundle_dir}/card.json: a two-class bundle needs a neutral_threshold in [0.5, 1]; "
            f"got {threshold!r}"
        )
    if not isinstance(card.get("max_tokens"), int) or card["max_tokens"] < 3:
        raise ValueError(f"{bundle_dir}/card.json: 'max_tokens' must be an integer >= 3")
    return card


def session_options(
    intra_op_threads: int | None = None, *, spinning: bool = False
) -> ort.SessionOptions:
    """onnxruntime options sized to this process's cores.

    Spinning is off by default: on a few shared cores, intra-op threads that spin between batches
    take CPU from the HTTP workers and the other services; the cost is a little wake-up latency.
    Every session over a bundle takes these options, so tools measure what the service runs.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads or available_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.add_session_config_entry(
        "optimization.disable_specified_optimizers", UNFUSED_OPTIMIZERS
    )
    return options


def label_probabilities(logits: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Softmax over the logits, as columns in LABELS order (classes the model lacks are 0)."""
    probs = logits.astype(np.float64)
    probs -= probs.max(axis=1, keepdims=True)
    np.exp(probs, out=probs)
    probs /= probs.sum(axis=1, keepdims=True)
    if tuple(labels) == LABELS:
        return probs
    columns = np.zeros((len(probs), len(LABELS)))
    columns[:, [LABELS.index(label) for label in labels]] = probs
    return columns


def decide(
    probabilities: np.ndarray, neutral_threshold: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Winning label index (into LABELS) and its confidence for each row of probabilities.

    Two-class bundles (neutral column all 0) call a text neutral when the winning probability is
    below the threshold; its confidence stays the winning class's probability, i.e. how sure the
    model was of the side it leaned to, which is what made the call neutral.
    """
    winner = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(winner)), winner]
    if neutral_threshold is not None:
        winner = np.where(confidence < neutral_threshold, NEUTRAL, winner)
    return winner, confidence


def positivity(probabilities: np.ndarray) -> np.ndarray:
    """P(positive) + 0.5 * P(neutral): the per-review score a movie's rating averages."""
    return probabilities[:, POSITIVE] + 0.5 * probabilities[:, NEUTRAL]


def rounded_stars(stars: np.ndarray) -> list[float]:
    """The stars as predictions carry them: Python floats to two decimals (8.7, not float32's
    8.699999809...)."""
    return [round(star, 2) for star in stars.tolist()]


def sub_batches(lengths: np.ndarray) -> list[np.ndarray]:
    """Indices grouped into length buckets: sorted by token count, cut by count and token budget."""
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    sizes = np.arange(1, MAX_SUB_BATCH + 1)
    batches, start, total = [], 0, len(order)
    while start < total:
        ends = start + sizes[sizes <= total - start]
        # Sorted ascending, so the last text of a bucket is its longest: padded size = count * it.
        fits = (ends - start) * sorted_lengths[ends - 1] <= MAX_SUB_BATCH_TOKENS
        count = int(sizes[: len(ends)][fits].max()) if fits.any() else 1
        batches.append(order[start : start + count])
        start += count
    return batches


class SentimentModel:
    """An INT8 ONNX sentiment bundle loaded for inference."""

    def __init__(
        self,
        card: dict,
        tokenizer: Tokenizer,
        session: ort.InferenceSession,
        model_tag: str,
        pad_id: int = 0,
    ):
        self.card = card
        self.model_tag = model_tag
        self.max_tokens: int = card["max_tokens"]
        self.labels: list[str] = list(card["labels"])
        self.neutral_threshold: float | None = (
            float(card["neutral_threshold"]) if len(self.labels) == 2 else None
        )
        self._tokenizer = tokenizer
        self._session = session
        self._inputs = {i.name: _NUMPY_TYPES.get(i.type, np.int64) for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]
        self.has_stars = STARS_OUTPUT in outputs
        # One run gives both: the logits first, then the stars where the graph has them.
        self._outputs = [next(name for name in outputs if name != STARS_OUTPUT)]
        self._outputs += [STARS_OUTPUT] if self.has_stars else []
        unknown = set(self._inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ValueError(
                f"the ONNX model wants inputs this module does not make: {sorted(unknown)}"
            )
        self._pad_id = pad_id

    @classmethod
    def load(
        cls,
        bundle_dir: str | Path,
        *,
        model_tag: str | None = None,
        intra_op_threads: int | None = None,
        spinning: bool = False,
    ) -> SentimentModel:
        bundle = Path(bundle_dir)
        card = read_card(bundle)
        tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
        tokenizer.no_padding()  # each sub-batch is padded here, to its own longest text
        tokenizer.enable_truncation(max_length=card["max_tokens"])
        session = ort.InferenceSession(
            str(bundle / "model.onnx"),
            sess_options=session_options(intra_op_threads, spinning=spinning),
            providers=["CPUExecutionProvider"],
        )
        config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
        model_tag = model_tag or f"{card['name']}:{card['version']}"
        return cls(card, tokenizer, session, model_tag, pad_id=config.get("pad_token_id") or 0)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One prediction per text, in input order."""
        if not texts:
            return []
        probabilities, stars, truncated = self.infer(texts)
        winner, confidence = decide(probabilities, self.neutral_threshold)
        scores = positivity(probabilities)
        rows = probabilities.tolist()
        stars_rounded = rounded_stars(stars) if stars is not None else [None] * len(rows)
        return [
            Prediction(
                label=LABELS[w],
                confidence=c,
                probabilities=dict(zip(LABELS, row, strict=True)),
                positivity=s,
                stars=star,
                model=self.model_tag,
                truncated=t,
            )
            for w, c, row, s, star, t in zip(
                winner.tolist(),
                confidence.tolist(),
                rows,
                scores.tolist(),
                stars_rounded,
                truncated,
                strict=True,
            )
        ]

    def infer(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None, list[bool]]:
        """Class probabilities (columns in LABELS order), the stars (None without a rating head)
        and the truncated flags, in input order."""
        if len(texts) == 1:
            return self._one_text(texts[0])
        encodings = self._tokenizer.encode_batch(list(texts))
        token_ids = [encoding.ids for encoding in encodings]
        lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
        logits = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        stars = np.empty(len(texts), dtype=np.float32) if self.has_stars else None
        for batch in sub_batches(lengths):
            outputs = self._run([token_ids[i] for i in batch], lengths[batch])
            logits[batch] = outputs[0]
            if stars is not None:
                stars[batch] = outputs[1]
        truncated = [_was_cut(e) for e in encodings]
        return label_probabilities(logits, self.labels), stars, truncated

    def _one_text(self, text: str) -> tuple[np.ndarray, np.ndarray | None, list[bool]]:
        """The commonest request, without the bucketing and padding a batch needs.

        A short review runs in under a millisecond, and the batch path's bookkeeping (batch
        encode, length buckets, the padding mask) took about 8% of that (docs/benchmarks).
        """
        encoding = self._tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        tensors = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        outputs = self._session.run(self._outputs, self._typed(tensors))
        stars = outputs[1] if self.has_stars else None
        return label_probabilities(outputs[0], self.labels), stars, [_was_cut(encoding)]

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The ONNX feed for texts run together, padded to the longest (calibration, tools)."""
        token_ids = [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]
        lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(token_ids))
        return self._feed(token_ids, lengths)

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """Logits for a feed from `encode`: the ONNX model alone (every output it serves, as a
        predict runs it), for tools that time it."""
        return self._session.run(self._outputs, feed)[0]

    def _run(self, token_ids: list[list[int]], lengths: np.ndarray) -> list[np.ndarray]:
        """Logits (and stars, where the graph has them) for one sub-batch, padded to its own
        longest text."""
        return self._session.run(self._outputs, self._feed(token_ids, lengths))

    def _feed(self, token_ids: list[list[int]], lengths: np.ndarray) -> dict[str, np.ndarray]:
        mask = np.arange(lengths.max()) < lengths[:, None]
        ids = np.full(mask.shape, self._pad_id, dtype=np.int64)
        ids[mask] = np.fromiter(
            itertools.chain.from_iterable(token_ids), dtype=np.int64, count=int(lengths.sum())
        )
        tensors = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self._typed(tensors)

    def _typed(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The tensors the ONNX model takes, in the integer types it declares."""
        return {
            name: tensors[name].astype(dtype, copy=False) for name, dtype in self._inputs.items()
        }

    def warm_up(self) -> None:
        """Run a short and a maximal-length batch so the first real request pays no allocation."""
        self.predict(["좋아요", "영화 " * self.max_tokens, *["재밌다"] * 8])


def _was_cut(encoding: Encoding) -> bool:
    return bool(encoding.overflowing)
