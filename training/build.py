"""Turn a Hugging Face sequence-classification checkpoint into a gated INT8 ONNX model bundle.

    python -m training build --source checkpoints/baseline --out models/korean-sentiment
    python -m training build --source matthewburke/korean_sentiment --labels negative,positive
Export (Optimum) → INT8 quantization (static by default, preset for this CPU) → the checkpoint's
rating head, if it keeps one, as a second output `stars` (training.rating_head) → FP32/INT8 parity
gate on a dev sample (labels, and stars) → bundle directory (model.onnx, tokenizer.json,
config.json, card.json) → model store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model_service.inference import LABELS, SentimentModel, decide
from training.data import gold_labels, read_reviews
from training.evaluate import score
from training.metrics import sentiment_metrics
from training.ngram_head import NgramHead, append_to_graph, vocabulary_digest
from training.options import BuildOptions, ResultOptions
from training.rating_head import Calibration, RatingHead, card_entry
from training.rating_head import append_to_graph as append_stars
from training.register import register_bundle
from training.tokenizer import default_max_tokens

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
TWO_CLASS = ("negative", "positive")


class BuildRefused(Exception):
    """The build stops here; the message says why and what to do."""


# ---------------------------------------------------------------- label map


def label_map(id2label: dict[int, str], labels: Sequence[str] | None) -> list[str]:
    """Logit index → label: the config's names when they are ours, else `labels`; never guessed."""
    given = [str(id2label[i]).strip() for i in sorted(id2label)]
    named = [name.lower() for name in given]
    if sorted(named) in (sorted(LABELS), sorted(TWO_CLASS)):
        if labels is not None and list(labels) != named:
            raise BuildRefused(
                f"--labels {','.join(labels)} contradicts the checkpoint's config, which names its "
                f"logits {','.join(named)}; drop --labels or fix the checkpoint"
            )
        return named
    if labels is None:
        example = ",".join(TWO_CLASS if len(given) == 2 else LABELS)
        raise BuildRefused(
            f"the checkpoint's config names its {len(given)} classes {', '.join(given)}, not "
            "negative/neutral/positive, and labels are never guessed: pass --labels with one name "
            f"per logit in index order, e.g. --labels {example}"
        )
    labels = [label.strip().lower() for label in labels]
    if len(labels) != len(named):
        raise BuildRefused(
            f"--labels names {len(labels)} classes but the model has {len(named)} logits"
        )
    if sorted(labels) not in (sorted(LABELS), sorted(TWO_CLASS)):
        raise BuildRefused(
            "--labels must be negative,neutral,positive or negative,positive in some order; "
            f"got {labels}"
        )
    return labels


# ---------------------------------------------------------------- export and quantization


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def choose_preset(requested: str = "auto") -> str:
    """The quantization preset for this CPU: VNNI runs full-range INT8; without it, avx512/avx2
    kernels can saturate, so those presets use reduce_range (7-bit weights)."""
    if requested != "auto":
        return requested
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "arm64"
    flags = cpu_flags()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def quantization_config(preset: str, per_channel: bool):
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if preset in ("avx512", "avx2"):
        return getattr(AutoQuantizationConfig, preset)(
            is_static=False, per_channel=per_channel, reduce_range=True
        )
    return getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=per_channel)


def export_fp32(source: str, out_dir: Path) -> Path:
    """ONNX export with Optimum (a hub id downloads where there is network); returns model.onnx."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    if getattr(config, "type_vocab_size", 2) < 2:
        return _export_without_token_types(source, config, out_dir)
    model = ORTModelForSequenceClassification.from_pretrained(source, export=True)
    model.save_pretrained(out_dir)
    return out_dir / "model.onnx"


def _export_without_token_types(source: str, config, out_dir: Path) -> Path:
    """Export a model with a single token type and no token_type_ids input.

    Optimum's dummy token_type_ids take the values 0 and 1, which a one-row token-type embedding
    cannot look up; such a model only ever sees type 0, which it uses when the input is absent.
    """
    from optimum.exporters.onnx import main_export
    from optimum.exporters.tasks import TasksManager

    task = "text-classification"
    registered = TasksManager.get_exporter_config_constructor(
        "onnx", task=task, model_type=config.model_type, library_name="transformers"
    )(config)

    class SingleTokenTypeConfig(type(registered)):
        @property
        def inputs(self) -> dict:
            return {k: v for k, v in super().inputs.items() if k != "token_type_ids"}

    main_export(
        source,
        output=out_dir,
        task=task,
        custom_onnx_configs={"model": SingleTokenTypeConfig(config, task=task)},
        do_validation=False,
        no_post_process=True,
        library_name="transformers",
    )
    return out_dir / "model.onnx"


def fuse_graph(
    fp32_model: Path, out_dir: Path, *, multi_head_attention: bool = False
) -> tuple[Path, str | None]:
    """Transformer fusions (attention, bias-GELU) on the FP32 graph.

    The FP32 twin takes onnxruntime's Attention kernel, which owns its Q/K/V projections: the
    fastest FP32 graph. The graph quantized statically takes MultiHeadAttention instead, which
    leaves those projections as MatMuls the quantizer can make INT8 and keeps reshapes, transposes,
    the two score products and the softmax in one kernel (quantized before fusion, attention stays
    some thirty separate nodes a layer, and a short review's time goes to calling them).
    Residual connections stay Add + LayerNormalization: onnxruntime's SkipLayerNormalization
    kernel is the slower of the two (model_service.inference.UNFUSED_OPTIMIZERS).
    Returns the model and what was done (None: the architecture has no fusions).
    """
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import OptimizationConfig

    config = OptimizationConfig(
        optimization_level=2,
        use_multi_head_attention=multi_head_attention,
        disable_skip_layer_norm_fusion=True,
        disable_bias_skip_layer_norm_fusion=True,
    )
    optimizer = ORTOptimizer.from_pretrained(fp32_model.parent, file_names=[fp32_model.name])
    try:
        optimizer.optimize(config, out_dir, file_suffix="fused")
    except NotImplementedError as error:
        log.warning("no graph fusion for this architecture, quantizing as exported: %s", error)
        return fp32_model, None
    fused = out_dir / f"{fp32_model.stem}_fused.onnx"
    # The fused ops are onnxruntime contrib ops that ONNX's own shape inference cannot type, and
    # the quantizer needs every tensor's type: ORT's symbolic inference knows them.
    onnx.save(SymbolicShapeInference.infer_shapes(onnx.load(fused), auto_merge=True), fused)
    kernel = "MultiHeadAttention" if multi_head_attention else "Attention"
    return fused, (
        f"ORTOptimizer level 2 (transformer fusions, {kernel}; residuals as Add + "
        "LayerNormalization), before quantization"
    )


def quantize_static(
    fp32_model: Path, out_dir: Path, preset: str, calibration: Sequence[dict[str, np.ndarray]]
) -> tuple[Path, dict]:
    """Static INT8: weights per channel, activation scales calibrated once on dev texts.

    Fixed activation scales make a text's prediction independent of what it is batched with:
    dynamic quantization computes one scale over a whole run, so batching would move results.
    QDQ format with MatMul outputs left in float: onnxruntime runs each quantized MatMul as one
    MatMulIntegerToFloat kernel (no requantize-then-dequantize of its output), and the float
    output feeds the fused bias, GELU and layer-norm kernels directly.
    Returns the model path and the settings for the card.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter(calibration)

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    out_dir.mkdir(parents=True, exist_ok=True)
    prepared, quantized = out_dir / "prepared.onnx", out_dir / "model_quantized.onnx"
    quant_pre_process(str(fp32_model), str(prepared), skip_symbolic_shape=True)
    small_tables = small_embedding_lookups(prepared)
    operators = ["MatMul", "Gather"]  # the encoder's matrices and the vocabulary's embeddings
    reduce_range = preset in ("avx512", "avx2")  # without VNNI, u8×s8 products can saturate
    quantize_static(
        str(prepared),
        str(quantized),
        Feeds(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=operators,
        per_channel=True,
        reduce_range=reduce_range,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=small_tables,
        extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]},
    )
    log.info("residual connections kept in float: %d", float_residuals(quantized))
    settings = {
        "method": "static",
        "preset": preset,
        "weights": "QInt8",
        "activations": "QUInt8",
        "per_channel": True,
        "reduce_range": reduce_range,
        "operators": operators,
        "calibration": {"method": "MinMax", "texts": len(calibration)},
        "tool": "onnxruntime quantize_static (QDQ, MatMul outputs in float, residuals in float, "
        "small embedding tables in float)",
    }
    return quantized, settings


def small_embedding_lookups(model_path: Path) -> list[str]:
    """The Gathers over every embedding table but the largest (the vocabulary's).

    Position and token-type tables are a few kilobytes: 8 bits saves nothing worth having, and
    each quantized lookup costs a DequantizeLinear per run.
    """
    import onnx

    graph = onnx.load(model_path).graph
    rows = {table.name: table.dims[0] for table in graph.initializer if len(table.dims) == 2}
    lookups = [node for node in graph.node if node.op_type == "Gather" and node.input[0] in rows]
    largest = max((rows[node.input[0]] for node in lookups), default=0)
    return [node.name for node in lookups if rows[node.input[0]] < largest]


def float_residuals(model_path: Path) -> int:
    """Let the residual connections read the float tensors the MatMuls' 8-bit copies come from.

    The quantizer replaces a MatMul's input (a layer-norm output) by its QuantizeLinear →
    DequantizeLinear copy for every consumer, so the next layer's residual connection would add
    the 8-bit approximation and pay a DequantizeLinear per layer for it. Only the MatMuls need the
    8-bit input. (The embedding Gathers' own copies stay: onnxruntime fuses those into 8-bit
    lookups.) Returns how many inputs were rewired.
    """
    import onnx

    model = onnx.load(model_path)
    producers = {out: node for node in model.graph.node for out in node.output}
    read_by_matmul = {
        name for node in model.graph.node if node.op_type == "MatMul" for name in node.input
    }
    rewired = 0
    for node in model.graph.node:
        if node.op_type == "MatMul":
            continue
        for position, name in enumerate(node.input):
            dequantize = producers.get(name) if name in read_by_matmul else None
            if dequantize is None or dequantize.op_type != "DequantizeLinear":
                continue
            quantize = producers.get(dequantize.input[0])
            if quantize is not None and quantize.op_type == "QuantizeLinear":
                node.input[position] = quantize.input[0]
                rewired += 1
    onnx.save(model, model_path)
    return rewired


def quantize(fp32_model: Path, out_dir: Path, preset: str, per_channel: bool) -> tuple[Path, dict]:
    """Dynamic INT8 quantization (Optimum preset); returns the model path and the card settings.

    Faster to build and needs no calibration, but a text's result then depends slightly on its
    batch: use it for models that are not served behind the adaptive batcher.
    """
    from optimum.onnxruntime import ORTQuantizer

    config = quantization_config(preset, per_channel)
    quantizer = ORTQuantizer.from_pretrained(fp32_model.parent, file_name=fp32_model.name)
    quantizer.quantize(quantization_config=config, save_dir=out_dir, file_suffix="quantized")
    settings = {
        "method": "dynamic",
        "preset": preset,
        "weights": config.weights_dtype.name,
        "activations": config.activations_dtype.name,
        "per_channel": config.per_channel,
        "reduce_range": config.reduce_range,
        "operators": sorted(str(op) for op in config.operators_to_quantize),
        "tool": "optimum-onnx ORTQuantizer",
    }
    return out_dir / f"{fp32_model.stem}_quantized.onnx", settings


# ---------------------------------------------------------------- parity gate


def tune_neutral_threshold(gold: np.ndarray, probabilities: np.ndarray) -> float:
    """The two-class neutral threshold with the best three-class macro-F1 on the dev sample.

    Of thresholds that tie for best, the middle one: the farthest from the edges where a little
    more or less confidence (e.g. INT8 rounding) would change the labels.
    """
    candidates = np.round(np.arange(0.50, 1.0, 0.01), 2)
    scores = np.array(
        [
            sentiment_metrics(gold, probabilities, decide(probabilities, float(t))[0])["macro_f1"]
            for t in candidates
        ]
    )
    best = candidates[scores >= scores.max() - 1e-9]
    return float(best[len(best) // 2])


def parity_report(
    gold: np.ndarray,
    fp32: np.ndarray,
    int8: np.ndarray,
    neutral_threshold: float | None,
    *,
    min_agreement: float,
    max_accuracy_drop: float,
    fp32_stars: np.ndarray | None = None,
    int8_stars: np.ndarray | None = None,
    stars_tolerance: float = 0.2,
    min_stars_agreement: float = 0.99,
) -> dict:
    """Agreement of served labels and the accuracy drop FP32 → INT8, and for a bundle with stars
    the share of texts whose INT8 stars are within `stars_tolerance` of FP32's; `passed`: the
    gate holds on both.

    Accuracy is the model's own task: three-class accuracy, or balanced binary accuracy for
    two-class models (their neutral comes from a threshold, not from training).
    """
    fp32_labels, _ = decide(fp32, neutral_threshold)
    int8_labels, _ = decide(int8, neutral_threshold)
    fp32_metrics = sentiment_metrics(gold, fp32, fp32_labels)
    int8_metrics = sentiment_metrics(gold, int8, int8_labels)
    metric = "accuracy" if neutral_threshold is None else "binary_accuracy"
    agreement = float(np.mean(fp32_labels == int8_labels))
    drop = fp32_metrics[metric] - int8_metrics[metric]
    stars = None
    if fp32_stars is not None and int8_stars is not None:
        stars = stars_parity(fp32_stars, int8_stars, stars_tolerance, min_stars_agreement)
    labels_hold = agreement >= min_agreement and drop <= max_accuracy_drop
    return {
        "n": len(gold),
        "agreement": agreement,
        "accuracy_metric": metric,
        "fp32_accuracy": fp32_metrics[metric],
        "int8_accuracy": int8_metrics[metric],
        "accuracy_drop": drop,
        "min_agreement": min_agreement,
        "max_accuracy_drop": max_accuracy_drop,
        "labels_passed": labels_hold,
        "stars": stars,
        "passed": labels_hold and (stars is None or stars["passed"]),
        "forced": False,
        "metrics": {"fp32": _headline(fp32_metrics), "int8": _headline(int8_metrics)},
    }


def stars_parity(
    fp32: np.ndarray, int8: np.ndarray, tolerance: float, min_agreement: float
) -> dict:
    """How closely the INT8 model's stars follow the FP32 model's on the same texts."""
    difference = np.abs(np.asarray(int8, np.float64) - np.asarray(fp32, np.float64))
    agreement = float(np.mean(difference <= tolerance)) if len(difference) else 1.0
    return {
        "agreement": agreement,
        "tolerance": tolerance,
        "min_agreement": min_agreement,
        "max_difference": float(difference.max(initial=0.0)),
        "mean_difference": float(difference.mean()) if len(difference) else 0.0,
        "passed": agreement >= min_agreement,
    }


def enforce_parity(parity: dict, force: bool) -> dict:
    """Refuse the build when the gate fails, unless forced (then the card records it)."""
    if parity["passed"]:
        return parity
    reasons = []
    if not parity["labels_passed"]:
        reasons.append(
            f"INT8 disagrees with FP32: agreement {parity['agreement']:.2%} on {parity['n']} dev "
            f"reviews (needs ≥ {parity['min_agreement']:.0%}), {parity['accuracy_metric']} "
            f"{parity['fp32_accuracy']:.4f} → {parity['int8_accuracy']:.4f} "
            f"(drop {parity['accuracy_drop'] * 100:.2f} points, "
            f"allowed {parity['max_accuracy_drop'] * 100:.1f})"
        )
    stars = parity.get("stars")
    if stars is not None and not stars["passed"]:
        reasons.append(
            f"INT8 stars drift from FP32's: {stars['agreement']:.2%} of {parity['n']} dev "
            f"reviews within {stars['tolerance']} stars (needs ≥ {stars['min_agreement']:.0%}), "
            f"the largest difference {stars['max_difference']:.2f} stars"
        )
    reason = "; ".join(reasons)
    if not force:
        raise BuildRefused(
            f"build refused: {reason}. Try another --preset or --per-channel, or pass --force to "
            "ship it anyway (recorded in the card)"
        )
    log.warning("parity gate failed but --force given: %s", reason)
    return parity | {"forced": True}


def _headline(metrics: dict) -> dict:
    keys = ("n", "binary_accuracy", "macro_f1", "accuracy")
    return {key: metrics[key] for key in keys}


# ---------------------------------------------------------------- latency


def single_text_latency(
    fp32_bundle: Path, int8_bundle: Path, texts: Sequence[str], threads: int, rounds: int = 3
) -> dict:
    """Median and p90 milliseconds per one-text predict, the two models interleaved in one run.

    One intra-op thread by default: a single short review does not gain from a thread pool, and
    waking one would measure the pool rather than the INT8 kernels. Each text is timed in
    `rounds` passes, the model that goes first alternating, so neither is always the one that
    finds the caches holding the other's weights (on a shared machine a single pass moves the
    ratio from run to run). Each predict is followed by a run of the ONNX model alone on
    the same token ids (`*_model_median_ms`): what the predict spends around the model
    (tokenizing, softmax, the result) is the same for both and INT8 cannot speed it up.
    """
    models = {
        key: SentimentModel.load(bundle, intra_op_threads=threads)
        for key, bundle in (("fp32", fp32_bundle), ("int8", int8_bundle))
    }
    feeds = {key: [model.encode([text]) for text in texts] for key, model in models.items()}
    timings: dict[str, list[float]] = {
        f"{key}{part}": [] for key in models for part in ("", "_model")
    }
    for model in models.values():
        model.warm_up()
    order = list(models.items())
    for _ in tqdm(range(rounds), desc="latency", unit="round"):
        for position, text in enumerate(texts):
            for key, model in order:
                timings[key].append(_milliseconds(model.predict, [text]))
                timings[f"{key}_model"].append(_milliseconds(model.run, feeds[key][position]))
        order.reverse()
    result = {}
    for key, values in timings.items():
        values.sort()
        result[f"{key}_median_ms"] = round(statistics.median(values), 3)
        result[f"{key}_p90_ms"] = round(values[int(0.9 * (len(values) - 1))], 3)
    result["speedup"] = round(result["fp32_median_ms"] / result["int8_median_ms"], 2)
    result["model_speedup"] = round(
        result["fp32_model_median_ms"] / result["int8_model_median_ms"], 2
    )
    result |= {"texts": len(texts), "rounds": rounds, "threads": threads}
    return result


def _milliseconds(call, argument) -> float:
    started = time.perf_counter()
    call(argument)
    return (time.perf_counter() - started) * 1000


# ---------------------------------------------------------------- the bundle


def repo_relative(path: Path) -> str:
    """Paths in or beside the repository relative to it (as a fresh clone sees them)."""
    resolved = path.resolve()
    if resolved.is_relative_to(REPO_ROOT.parent):
        return os.path.relpath(resolved, REPO_ROOT)
    return str(path)


def stage_bundle(directory: Path, onnx_model: Path, tokenizer, config, card: dict) -> Path:
    directory.mkdir(parents=True)
    shutil.copyfile(onnx_model, directory / "model.onnx")
    tokenizer.save_pretrained(directory)  # tokenizer.json + the files AutoTokenizer wants beside it
    config.save_pretrained(directory)
    write_card(directory, card)
    return directory


def write_card(directory: Path, card: dict) -> None:
    text = json.dumps(card, ensure_ascii=False, indent=2)
    (directory / "card.json").write_text(text + "\n", encoding="utf-8")


def place_bundle(staged: Path, out: Path) -> None:
    """Move the finished bundle to `out`, replacing only an earlier bundle (or an empty dir)."""
    if out.exists():
        if any(out.iterdir()) and not (out / "card.json").exists():
            raise BuildRefused(f"{out} exists and is not a model bundle; choose another --out")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(staged, out)


def dev_sample(path: Path, size: int, seed: int) -> list:
    reviews = read_reviews(path)
    return random.Random(seed).sample(reviews, min(size, len(reviews)))


# ---------------------------------------------------------------- the build


def build(options: BuildOptions) -> dict:
    """Export, quantize, gate, write the bundle and register it; returns the result object."""
    from transformers import AutoConfig, AutoTokenizer

    started = time.perf_counter()
    if not options.dev.is_file():
        raise BuildRefused(f"dev data {options.dev} not found (--dev): the parity gate needs it")
    tokenizer_source = options.tokenizer or options.source
    if (
        Path(tokenizer_source).is_dir()
        and not (Path(tokenizer_source) / "tokenizer.json").is_file()
    ):
        raise BuildRefused(
            f"no tokenizer.json in {tokenizer_source}: save the fast tokenizer beside the model "
            "(tokenizer.save_pretrained) or pass --tokenizer DIR"
        )
    try:
        config = AutoConfig.from_pretrained(options.source)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    except OSError as error:
        raise BuildRefused(
            f"cannot load {options.source!r} (a local checkpoint directory, or a hub id where "
            f"there is network): {error}"
        ) from error
    labels = label_map(config.id2label, options.labels)
    threshold_given = options.neutral_threshold is not None
    if len(labels) == 2 and threshold_given and not 0.5 <= options.neutral_threshold <= 1:
        raise BuildRefused("--neutral-threshold must be in [0.5, 1]")
    if not tokenizer.is_fast:
        raise BuildRefused(
            f"{options.source} has no fast tokenizer (tokenizer.json); cannot serve it"
        )
    max_tokens = options.max_tokens or default_max_tokens(tokenizer, config)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    preset = choose_preset(options.preset)
    ngram_head = load_ngram_head(options.ngram_head, labels, max_tokens, tokenizer)
    rating_head, stars_calibration = load_rating_head(options.source, ngram_head)

    with tempfile.TemporaryDirectory(prefix="build-model-") as work_dir:
        work = Path(work_dir)
        log.info("exporting %s to ONNX", options.source)
        exported = export_fp32(options.source, work / "fp32")
        fp32_path, fusion = fuse_graph(exported, work / "fused")
        twin_path, stars_input = fp32_twin(fp32_path, ngram_head, rating_head, stars_calibration)
        card = {
            "name": options.name,
            "version": "fp32",  # the FP32 twin's; the bundle's comes from its INT8 model
            "labels": labels,
            # Two-class bundles need a threshold to load; the final one is set after the dev run.
            "neutral_threshold": (options.neutral_threshold or 0.5) if len(labels) == 2 else None,
            "max_tokens": max_tokens,
            "source": options.source,
        }
        if ngram_head is not None:
            card["ngram_head"] = ngram_head_card(options.ngram_head, ngram_head)
        stars_mix = ngram_head.stars if ngram_head is not None else None
        card["stars"] = card_entry(rating_head, stars_calibration, stars_input, stars_mix)
        fp32_bundle = stage_bundle(work / "fp32-bundle", twin_path, tokenizer, config, card)
        fp32_model = SentimentModel.load(fp32_bundle)
        reviews = dev_sample(options.dev, options.dev_sample, options.seed)
        gold, texts = gold_labels(reviews), [r.text for r in reviews]

        log.info("quantizing (%s INT8, preset %s)", options.quantization, preset)
        if options.quantization == "static":
            # One text per feed: calibration sees real activations, never padding.
            calibration = [fp32_model.encode([text]) for text in texts[: options.calibration_texts]]
            to_quantize, int8_fusion = fuse_graph(
                exported, work / "fused-mha", multi_head_attention=True
            )
            int8_path, quantization = quantize_static(
                to_quantize, work / "int8", preset, calibration
            )
        else:
            int8_fusion = fusion
            int8_path, quantization = quantize(
                fp32_path, work / "int8", preset, options.per_channel
            )
        quantization["graph_fusion"] = int8_fusion
        if rating_head is not None:
            add_stars(int8_path, rating_head, stars_calibration)
        if ngram_head is not None:
            # Mixed in after quantization: the head's table is quantized on its own terms.
            append_to_graph(int8_path, ngram_head, eight_bit=True)
        digest = hashlib.sha256(int8_path.read_bytes()).hexdigest()[:6]
        version = options.version or f"{datetime.now(UTC):%Y%m%d}-{digest}"
        card |= {"version": version, "quantization": quantization}
        bundle = stage_bundle(work / "bundle", int8_path, tokenizer, config, card)
        int8_model = SentimentModel.load(bundle)
        fp32_scored, int8_scored = score(fp32_model, texts), score(int8_model, texts)
        fp32_probs, int8_probs = fp32_scored.probabilities, int8_scored.probabilities
        threshold = card["neutral_threshold"]
        if len(labels) == 2:
            threshold = options.neutral_threshold or tune_neutral_threshold(gold, fp32_probs)
        parity = parity_report(
            gold,
            fp32_probs,
            int8_probs,
            threshold,
            min_agreement=options.min_agreement,
            max_accuracy_drop=options.max_accuracy_drop,
            fp32_stars=fp32_scored.stars,
            int8_stars=int8_scored.stars,
            stars_tolerance=options.stars_tolerance,
            min_stars_agreement=options.min_stars_agreement,
        )
        parity = enforce_parity(parity, options.force)
        latency = single_text_latency(
            fp32_bundle, bundle, texts[: options.latency_texts], options.latency_threads
        )
        sizes = {"fp32": twin_path.stat().st_size, "int8": int8_path.stat().st_size}
        card |= {
            "neutral_threshold": threshold,
            "neutral_threshold_from": _threshold_origin(labels, options.neutral_threshold),
            "parity": {k: v for k, v in parity.items() if k != "metrics"}
            | {"dev": repo_relative(options.dev)},
            "metrics": {"dev_sample": parity["metrics"]},
            "size_bytes": sizes | {"ratio": round(sizes["int8"] / sizes["fp32"], 3)},
            "latency_ms": latency,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_card(bundle, card)
        out = options.out or REPO_ROOT / "state" / "bundles" / f"{options.name}-{version}"
        place_bundle(bundle, out)

    registered = None
    if options.register:
        registered = register_bundle(out)["tag"]
    return {
        "bundle": str(out),
        "tag": f"{options.name}:{version}",
        "registered": registered,
        "labels": labels,
        "neutral_threshold": threshold,
        "quantization": quantization,
        "parity": parity,
        "size_bytes": card["size_bytes"],
        "latency_ms": latency,
        "seconds": round(time.perf_counter() - started, 1),
    }


def fp32_twin(
    fused: Path,
    ngram_head: NgramHead | None,
    rating_head: RatingHead | None,
    calibration: Calibration | None,
) -> tuple[Path, str | None]:
    """The FP32 model an INT8 build is compared with: the fused graph, with the rating head's
    `stars` output and the n-gram head mixed in (its table in float) when there are. A copy: the
    dynamic path quantizes the fused graph itself, and adds the heads to its result.
    Returns the model and the tensor the rating head reads (None without one)."""
    if ngram_head is None and rating_head is None:
        return fused, None
    twin = fused.with_name("model_with_heads.onnx")
    shutil.copyfile(fused, twin)
    stars_input = None
    if rating_head is not None:  # first: it finds the classifier from the unmixed logits
        stars_input = add_stars(twin, rating_head, calibration)
    if ngram_head is not None:
        append_to_graph(twin, ngram_head, eight_bit=False)
    return twin, stars_input


def add_stars(model_path: Path, head: RatingHead, calibration: Calibration) -> str:
    """The rating head appended to a graph (training.rating_head), or the build refused."""
    try:
        return append_stars(model_path, head, calibration)
    except ValueError as error:
        raise BuildRefused(f"cannot add the rating head's stars output: {error}") from error


def load_rating_head(
    source: str, ngram_head: NgramHead | None = None
) -> tuple[RatingHead | None, Calibration | None]:
    """The rating head a checkpoint directory keeps, and the calibration to serve it with (the
    n-gram head's, when that has a share of the stars); (None, None) for a checkpoint without
    one (a hub id, an older checkpoint)."""
    mix = ngram_head.stars if ngram_head is not None else None
    head = None
    if Path(source).is_dir():
        try:
            head = RatingHead.load(source)
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise BuildRefused(f"cannot load the rating head in {source}: {error}") from error
    if mix is not None and (head is None or head.digest != mix.rating_head):
        raise BuildRefused(
            f"the n-gram head's share of the stars was tuned for rating head {mix.rating_head}; "
            f"{source} has {'none' if head is None else head.digest}: train the n-gram head "
            "again for this checkpoint (python -m training ngram-head)"
        )
    if mix is not None:
        return head, mix.calibration
    if head is None:
        log.info("%s has no rating head: the bundle will have no stars", source)
        return None, None
    if head.calibration is None:
        log.warning(
            "the rating head in %s was never calibrated on dev (no rating_head.json): its stars "
            "are the raw expected rating (T=1, a=0, b=1)",
            source,
        )
        return head, Calibration()
    return head, head.calibration


def load_ngram_head(
    directory: Path | None, labels: list[str], max_tokens: int, tokenizer
) -> NgramHead | None:
    """The n-gram head to mix into the graphs, checked against the checkpoint; None without one."""
    if directory is None:
        return None
    try:
        head = NgramHead.load(directory)
    except (OSError, KeyError, ValueError) as error:
        raise BuildRefused(f"cannot load the n-gram head in {directory}: {error}") from error
    vocabulary = vocabulary_digest(tokenizer.backend_tokenizer.get_vocab())
    trained_for = (head.labels, head.max_tokens, head.vocabulary)
    if trained_for != (labels, max_tokens, vocabulary):
        raise BuildRefused(
            f"the n-gram head in {directory} was trained for labels {head.labels}, "
            f"{head.max_tokens} tokens and vocabulary {head.vocabulary}; this build has "
            f"{labels}, {max_tokens} and {vocabulary}: train it again for this checkpoint "
            "(python -m training ngram-head)"
        )
    return head


def ngram_head_card(directory: Path, head: NgramHead) -> dict:
    return {
        "source": repo_relative(directory),
        "mix": head.mix,
        "stars_share": head.stars.share if head.stars is not None else None,
        "rows": head.rows,
        "buckets": head.buckets,
        "table": "8-bit, one scale per column, in the INT8 model",
    }


def _threshold_origin(labels: list[str], given: float | None) -> str | None:
    if len(labels) == 3:
        return None
    return "--neutral-threshold" if given is not None else "tuned for macro-F1 on the dev sample"


def main(options: BuildOptions, result: ResultOptions) -> int:
    """`python -m training build`: the result as JSON, or exit status 2 when the build refuses."""
    # Our loggers at INFO; libraries (the ONNX quantizer logs per tensor on the root) at WARNING.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        outcome = build(options)
    except BuildRefused as refusal:
        log.error("%s", refusal)
        return 2
    text = json.dumps(outcome, ensure_ascii=False, indent=2)
    if result.output:
        result.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0
