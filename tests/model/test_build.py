"""The build pipeline on a tiny model: export → quantize → gate → bundle → register → evaluate."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from model_service.inference import SentimentModel, decide
from tests.model.test_rating_head import checkpoint_stars
from training import build as build_model
from training.build import BuildOptions, BuildRefused, build, choose_preset, cpu_flags
from training.cli import main as training_main
from training.data import gold_labels, read_reviews
from training.evaluate import score
from training.tiny import SAMPLE_REVIEWS, build_tiny_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_script(module: str, *args: str, bentoml_home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tip_the_scales(model_path: Path) -> None:
    """Corrupt a model the way a bad quantization would: one class's bias pushed far up."""
    model = onnx.load(model_path)
    bias = next(t for t in model.graph.initializer if t.name == "classifier.bias")
    values = numpy_helper.to_array(bias).copy()
    values[0] += 50.0
    bias.CopyFrom(numpy_helper.from_array(values, bias.name))
    onnx.save(model, model_path)


def test_the_bundle_holds_an_int8_model_and_its_card(tiny_bundle):
    files = {path.name for path in tiny_bundle.iterdir()}
    assert {"model.onnx", "tokenizer.json", "config.json", "card.json"} <= files
    card = json.loads((tiny_bundle / "card.json").read_text())
    assert card["labels"] == ["negative", "neutral", "positive"]
    assert card["neutral_threshold"] is None
    assert card["quantization"]["preset"] == choose_preset()
    assert card["parity"]["passed"] and not card["parity"]["forced"]
    assert card["parity"]["agreement"] >= 0.99
    assert card["size_bytes"]["int8"] < card["size_bytes"]["fp32"]
    latency = card["latency_ms"]
    assert latency["fp32_median_ms"] > 0 and latency["int8_median_ms"] > 0
    # The model alone is part of each predict, so it never takes longer than the predict.
    assert 0 < latency["int8_model_median_ms"] < latency["int8_median_ms"]
    graph = onnx.load(tiny_bundle / "model.onnx").graph
    # Static INT8: every MatMul reads INT8 weights and an activation quantized with a calibrated
    # scale; nothing computes a scale per run (which would tie a text's result to its batch).
    ops = {n.op_type for n in graph.node}
    assert "MultiHeadAttention" in ops and "DynamicQuantizeLinear" not in ops
    producers = {out: node for node in graph.node for out in node.output}
    constants = {t.name: t for t in graph.initializer}
    matmuls = [n for n in graph.node if n.op_type == "MatMul"]
    assert matmuls
    for matmul in matmuls:
        activation, weight = (producers[name] for name in matmul.input)
        assert activation.op_type == weight.op_type == "DequantizeLinear"
        assert constants[weight.input[0]].data_type == onnx.TensorProto.INT8
        quantize = producers[activation.input[0]]
        assert quantize.op_type == "QuantizeLinear" and quantize.input[1] in constants
    # Residual connections add the float tensors: only the MatMuls read 8-bit copies. They stay
    # Add + LayerNormalization (onnxruntime's SkipLayerNormalization kernel is the slower one).
    assert "SkipLayerNormalization" not in ops
    residuals = [
        n
        for n in graph.node
        if n.op_type == "Add"
        and any(
            name in producers and producers[name].op_type == "LayerNormalization"
            for name in n.input
        )
    ]
    assert residuals
    read_by_matmuls = {name for matmul in matmuls for name in matmul.input}
    for node in graph.node:
        if node.op_type != "MatMul":
            assert not read_by_matmuls.intersection(node.input), node.name
    # Only the vocabulary's embedding table is 8-bit; the small position table stays float.
    tables = []
    for node in (n for n in graph.node if n.op_type == "Gather"):
        source = producers.get(node.input[0])
        dequantized = source is not None and source.op_type == "DequantizeLinear"
        name = source.input[0] if dequantized else node.input[0]
        tables += [constants[name]] if name in constants else []
    eight_bit = [
        t for t in tables if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    ]
    floats = [t for t in tables if t.data_type == onnx.TensorProto.FLOAT]
    assert len(eight_bit) == 1 and floats
    assert all(eight_bit[0].dims[0] > table.dims[0] for table in floats)
    assert card["quantization"]["method"] == "static"
    assert "MultiHeadAttention" in card["quantization"]["graph_fusion"]
    assert card["quantization"]["calibration"]["texts"] > 0


def test_a_single_token_type_model_is_exported_without_token_type_ids(tiny_reviews, tmp_path):
    checkpoint = build_tiny_checkpoint(tmp_path / "one-type", token_types=1)
    out = tmp_path / "bundle"
    build(
        BuildOptions(
            source=str(checkpoint), out=out, dev=tiny_reviews, register=False, latency_texts=5
        )
    )
    inputs = {i.name for i in onnx.load(out / "model.onnx").graph.input}
    assert inputs == {"input_ids", "attention_mask"}
    texts = [r.text for r in read_reviews(tiny_reviews)]
    served = [p.label for p in SentimentModel.load(out).predict(texts)]
    assert served == checkpoint_labels(checkpoint, texts)


def checkpoint_labels(checkpoint: Path, texts: list[str]) -> list[str]:
    """What the PyTorch checkpoint itself says, for comparison with the exported model."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    return [model.config.id2label[i] for i in logits.argmax(-1).tolist()]


def test_the_preset_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(build_model.platform, "machine", lambda: "x86_64")
    for flags, preset in [
        ({"avx2", "avx512f", "avx512_vnni"}, "avx512_vnni"),
        ({"avx2", "avx512f"}, "avx512"),
        ({"avx2"}, "avx2"),
    ]:
        monkeypatch.setattr(build_model, "cpu_flags", lambda flags=flags: flags)
        assert choose_preset() == preset
    assert choose_preset("avx2") == "avx2"
    reduced = build_model.quantization_config("avx2", per_channel=False)
    assert reduced.reduce_range  # no VNNI: 7-bit weights against saturation
    assert not build_model.quantization_config("avx512_vnni", per_channel=False).reduce_range


def test_this_machine_reports_its_cpu_flags():
    assert cpu_flags(), "/proc/cpuinfo gave no flags"


def test_gate_refuses_an_int8_model_that_disagrees(
    tiny_bundle, tiny_checkpoint, tiny_reviews, tmp_path
):
    """The real gate code on a real (tampered) INT8 model: it refuses; --force records it."""
    import shutil

    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_bundle, tampered)
    tip_the_scales(tampered / "model.onnx")
    reviews = read_reviews(tiny_reviews)
    texts, gold = [r.text for r in reviews], gold_labels(reviews)
    honest = score(SentimentModel.load(tiny_bundle), texts, progress=False).probabilities
    broken = score(SentimentModel.load(tampered), texts, progress=False).probabilities
    parity = build_model.parity_report(
        gold, honest, broken, None, min_agreement=0.99, max_accuracy_drop=0.005
    )
    assert not parity["passed"]
    with pytest.raises(BuildRefused, match="agreement"):
        build_model.enforce_parity(parity, force=False)
    assert build_model.enforce_parity(parity, force=True)["forced"]
    same = build_model.parity_report(
        gold, honest, honest, None, min_agreement=0.99, max_accuracy_drop=0.005
    )
    assert same["passed"] and same["agreement"] == 1.0


def refused_build(checkpoint: Path, dev: Path, out: Path, reason: str) -> BuildOptions:
    """A build of the checkpoint that the gate refuses for `reason`, leaving nothing at `out`;
    its options, to build again."""
    options = BuildOptions(
        source=str(checkpoint), out=out, dev=dev, register=False, latency_texts=5
    )
    with pytest.raises(BuildRefused, match=f"build refused: {reason}"):
        build(options)
    assert not out.exists()
    return options


def test_build_refuses_a_bad_quantization_and_writes_nothing(
    tiny_checkpoint, tiny_reviews, tmp_path, monkeypatch
):
    real_quantize = build_model.quantize_static

    def bad_quantize(*args, **kwargs):
        path, settings = real_quantize(*args, **kwargs)
        tip_the_scales(path)
        return path, settings

    monkeypatch.setattr(build_model, "quantize_static", bad_quantize)
    out = tmp_path / "bundle"
    options = refused_build(tiny_checkpoint, tiny_reviews, out, "INT8 disagrees with FP32")

    options.force = True
    result = build(options)
    card = json.loads((out / "card.json").read_text())
    assert card["parity"]["forced"] and not card["parity"]["passed"]
    assert result["parity"]["forced"]


def test_generic_labels_without_labels_flag_are_refused(tiny_reviews, tmp_path, caplog):
    checkpoint = build_tiny_checkpoint(
        tmp_path / "generic", ["negative", "positive"], generic_labels=True, train_steps=1
    )
    with caplog.at_level(logging.ERROR, logger="training.build"):
        code = training_main(
            ["build", "--source", str(checkpoint), "--dev", str(tiny_reviews), "--no-register"]
        )
    assert code == 2
    assert "LABEL_0, LABEL_1" in caplog.text and "--labels negative,positive" in caplog.text
    assert "never guessed" in caplog.text


def test_a_source_that_cannot_be_loaded_is_refused(tiny_reviews, tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="training.build"):
        code = training_main(
            [
                "build",
                "--source",
                str(tmp_path / "missing"),
                "--dev",
                str(tiny_reviews),
                "--no-register",
            ]
        )
    assert code == 2
    assert "cannot load" in caplog.text and "missing" in caplog.text


def test_a_checkpoint_without_its_tokenizer_is_refused(
    tiny_checkpoint, tiny_reviews, tmp_path, caplog
):
    model_only = tmp_path / "model-only"
    model_only.mkdir()
    for name in ("config.json", "model.safetensors"):
        (model_only / name).write_bytes((tiny_checkpoint / name).read_bytes())
    with caplog.at_level(logging.ERROR, logger="training.build"):
        code = training_main(
            ["build", "--source", str(model_only), "--dev", str(tiny_reviews), "--no-register"]
        )
    assert code == 2
    assert "no tokenizer.json" in caplog.text and "--tokenizer" in caplog.text


def test_label_map_checks(tmp_path):
    ours = {0: "negative", 1: "neutral", 2: "positive"}
    assert build_model.label_map(ours, None) == ["negative", "neutral", "positive"]
    assert build_model.label_map({0: "NEGATIVE", 1: "Positive"}, None) == ["negative", "positive"]
    with pytest.raises(BuildRefused, match="contradicts"):
        build_model.label_map(ours, ["positive", "neutral", "negative"])
    with pytest.raises(BuildRefused, match="2 logits"):
        build_model.label_map({0: "LABEL_0", 1: "LABEL_1"}, ["negative", "neutral", "positive"])
    with pytest.raises(BuildRefused, match="in some order"):
        build_model.label_map({0: "LABEL_0", 1: "LABEL_1"}, ["bad", "good"])


def test_two_class_checkpoint_with_labels_gets_a_neutral_threshold(tiny_reviews, tmp_path):
    checkpoint = build_tiny_checkpoint(
        tmp_path / "two-class", ["negative", "positive"], generic_labels=True
    )
    out = tmp_path / "bundle"
    build(
        BuildOptions(
            source=str(checkpoint),
            out=out,
            dev=tiny_reviews,
            labels=["negative", "positive"],
            register=False,
            latency_texts=5,
        )
    )
    card = json.loads((out / "card.json").read_text())
    assert card["labels"] == ["negative", "positive"]
    assert 0.5 < card["neutral_threshold"] < 1.0
    assert card["neutral_threshold_from"].startswith("tuned")
    assert json.loads((out / "config.json").read_text())["id2label"] == {
        "0": "negative",
        "1": "positive",
    }
    model = SentimentModel.load(out)
    reviews = read_reviews(tiny_reviews)
    predictions = model.predict([r.text for r in reviews])
    # The model is unsure of the middling reviews; the tuned threshold calls them neutral.
    assert [p.label for p in predictions] == [r.label for r in reviews]
    for prediction in predictions:
        probs = prediction.probabilities
        assert probs["neutral"] == 0.0
        leaning = max(probs["negative"], probs["positive"])
        assert (prediction.label == "neutral") == (leaning < card["neutral_threshold"])
        assert prediction.confidence == pytest.approx(leaning)


def test_neutral_threshold_is_tuned_away_from_the_edges():
    gold = np.array([0, 0, 1, 1, 1, 2, 2])  # negative, neutral, positive
    leaning = [0.97, 0.92, 0.62, 0.58, 0.66, 0.95, 0.99]
    sides = [0, 0, 0, 2, 2, 2, 2]
    probabilities = np.zeros((len(gold), 3))
    for row, (p, side) in enumerate(zip(leaning, sides, strict=True)):
        probabilities[row, side], probabilities[row, 2 - side] = p, 1 - p
    threshold = build_model.tune_neutral_threshold(gold, probabilities)
    # Every threshold in (0.66, 0.92] separates the neutral reviews; the middle one is chosen.
    assert 0.75 <= threshold <= 0.83
    labels, _ = decide(probabilities, threshold)
    assert labels.tolist() == gold.tolist()


def test_register_then_evaluate_by_store_tag(
    tiny_bentoml_home, tiny_model_tag, tiny_bundle, tiny_reviews
):
    again = run_script(
        "training", "register", str(tiny_bundle), "--if-missing", bentoml_home=tiny_bentoml_home
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) | {"path": None} == {
        "tag": tiny_model_tag,
        "path": None,
        "registered": False,
    }
    refused = run_script("training", "register", str(tiny_bundle), bentoml_home=tiny_bentoml_home)
    assert refused.returncode == 1 and "never overwritten" in refused.stderr
    stored = tiny_bentoml_home / "models" / tiny_model_tag.replace(":", "/")
    assert (stored / "model.onnx").read_bytes() == (tiny_bundle / "model.onnx").read_bytes()

    evaluated = run_script(
        "training",
        "evaluate",
        "--model",
        "korean-sentiment:latest",
        "--model",
        str(tiny_bundle),
        "--data",
        str(tiny_reviews),
        "--json",
        bentoml_home=tiny_bentoml_home,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    first, second = report["models"]
    assert first["model"] == tiny_model_tag  # "latest" resolved to the registered version
    assert report["agreement"] == 1.0  # the same files, from the store and from the directory
    reviews = read_reviews(tiny_reviews)
    model = SentimentModel.load(tiny_bundle)
    served = [p.label for p in model.predict([r.text for r in reviews])]
    assert first["n"] == len(reviews)
    assert first["accuracy"] == pytest.approx(
        np.mean([label == r.label for label, r in zip(served, reviews, strict=True)])
    )
    assert sum(map(sum, first["confusion_matrix"]["matrix"])) == len(reviews)
    assert report["differences"]["macro_f1"] == pytest.approx(
        second["macro_f1"] - first["macro_f1"]
    )

    unknown = run_script(
        "training",
        "evaluate",
        "--model",
        "korean-sentiment:nosuchversion",
        "--data",
        str(tiny_reviews),
        bentoml_home=tiny_bentoml_home,
    )
    assert unknown.returncode == 2
    assert "neither a bundle directory nor a model in the store" in unknown.stderr


def test_dynamic_quantization_stays_available(tiny_checkpoint, tiny_reviews, tmp_path):
    out = tmp_path / "dynamic"
    options = BuildOptions(
        source=str(tiny_checkpoint),
        out=out,
        dev=tiny_reviews,
        register=False,
        latency_texts=5,
        quantization="dynamic",
    )
    build(options)
    card = json.loads((out / "card.json").read_text())
    assert card["quantization"]["method"] == "dynamic"
    assert card["quantization"]["graph_fusion"]
    graph = onnx.load(out / "model.onnx").graph
    assert "DynamicQuantizeLinear" in {n.op_type for n in graph.node}
    assert [output.name for output in graph.output] == ["logits", "stars"]
    assert card["parity"]["stars"]["passed"]


def drift_the_stars(model_path: Path, scale: float = 3.0) -> None:
    """Perturb the rating head in a built graph: the stars move, the labels do not."""
    model = onnx.load(model_path)
    weight = next(t for t in model.graph.initializer if t.name == "stars/weight")
    values = numpy_helper.to_array(weight)
    noise = np.random.default_rng(0).normal(scale=scale, size=values.shape).astype(np.float32)
    weight.CopyFrom(numpy_helper.from_array(values + noise, weight.name))
    onnx.save(model, model_path)


def test_the_int8_bundle_has_stars_that_follow_fp32_within_the_gate(tiny_bundle, tiny_checkpoint):
    graph = onnx.load(tiny_bundle / "model.onnx").graph
    assert [output.name for output in graph.output] == ["logits", "stars"]
    assert graph.output[1].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    card = json.loads((tiny_bundle / "card.json").read_text())
    saved = json.loads((tiny_checkpoint / "rating_head.json").read_text())
    assert card["stars"]["calibration"] == saved["calibration"] | {"fitted_on_dev": True}
    assert card["stars"]["dev"] == saved["dev"]
    gate = card["parity"]["stars"]
    assert gate["passed"] and gate["agreement"] >= 0.99
    assert (gate["tolerance"], gate["min_agreement"]) == (0.2, 0.99)
    # Against the FP32 PyTorch model itself, not only the build's FP32 twin.
    texts = [text for text, _ in SAMPLE_REVIEWS]
    int8 = np.array([p.stars for p in SentimentModel.load(tiny_bundle).predict(texts)])
    fp32 = checkpoint_stars(tiny_checkpoint, texts)
    assert np.mean(np.abs(int8 - fp32) <= 0.2) >= 0.99


def test_gate_refuses_int8_stars_that_drift(tiny_bundle, tiny_reviews, tmp_path):
    """The real gate on a real INT8 model whose rating head was perturbed: the labels agree, the
    stars do not, and the refusal says so."""
    import shutil

    drifted = tmp_path / "drifted"
    shutil.copytree(tiny_bundle, drifted)
    drift_the_stars(drifted / "model.onnx")
    reviews = read_reviews(tiny_reviews)
    texts, gold = [r.text for r in reviews], gold_labels(reviews)
    honest = score(SentimentModel.load(tiny_bundle), texts, progress=False)
    broken = score(SentimentModel.load(drifted), texts, progress=False)
    settings = {"min_agreement": 0.99, "max_accuracy_drop": 0.005}
    parity = build_model.parity_report(
        gold, honest.probabilities, broken.probabilities, None, **settings,
        fp32_stars=honest.stars, int8_stars=broken.stars,
    )  # fmt: skip
    assert parity["labels_passed"] and not parity["stars"]["passed"] and not parity["passed"]
    with pytest.raises(BuildRefused) as refused:
        build_model.enforce_parity(parity, force=False)
    message = str(refused.value)
    assert "INT8 stars drift from FP32's" in message and "within 0.2 stars" in message
    assert "INT8 disagrees" not in message  # only what failed is named
    assert build_model.enforce_parity(parity, force=True)["forced"]
    same = build_model.parity_report(
        gold, honest.probabilities, honest.probabilities, None, **settings,
        fp32_stars=honest.stars, int8_stars=honest.stars,
    )  # fmt: skip
    assert same["passed"] and same["stars"]["max_difference"] == 0.0


def test_build_refuses_drifting_stars_and_writes_nothing(
    tiny_checkpoint, tiny_reviews, tmp_path, monkeypatch
):
    real_add_stars = build_model.add_stars

    def drifting_int8(model_path, head, calibration):
        reads = real_add_stars(model_path, head, calibration)
        if "quantized" in model_path.name:  # the INT8 model, not the FP32 twin
            drift_the_stars(model_path)
        return reads

    monkeypatch.setattr(build_model, "add_stars", drifting_int8)
    refused_build(
        tiny_checkpoint, tiny_reviews, tmp_path / "bundle", "INT8 stars drift from FP32's"
    )


def test_a_checkpoint_without_a_rating_head_builds_a_bundle_without_stars(headless_bundle):
    graph = onnx.load(headless_bundle / "model.onnx").graph
    assert [output.name for output in graph.output] == ["logits"]
    card = json.loads((headless_bundle / "card.json").read_text())
    assert card["stars"] is None
    assert card["parity"]["stars"] is None and card["parity"]["passed"]
