"""The n-gram head: trained as the graph computes it, mixed into both graphs, refused if foreign."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from model_service.inference import SentimentModel, session_options
from training.build import BuildOptions, BuildRefused, build
from training.ngram_head import (
    NgramHead,
    append_to_graph,
    gram_ids,
    inverse_document_frequency,
    tfidf_rows,
    train,
    tune_mix,
)
from training.tiny import SAMPLE_REVIEWS

LABELS = ["negative", "neutral", "positive"]
TEXTS = [text for text, _ in SAMPLE_REVIEWS[::5]] + ["좋아", "최악 최악 최악 최악"]


def random_head(vocab_size: int, buckets: int = 101, seed: int = 0) -> NgramHead:
    rng = np.random.default_rng(seed)
    rows = vocab_size + buckets
    return NgramHead(
        vocab_size=vocab_size,
        buckets=buckets,
        max_tokens=64,
        labels=LABELS,
        vocabulary="0" * 16,
        mix=0.4,
        weights=rng.normal(size=(rows, 3)).astype(np.float32),
        idf_squared=rng.uniform(1, 9, rows).astype(np.float32),
        bias=np.array([0.1, -0.2, 0.3], np.float32),
    )


@pytest.fixture(scope="module")
def head(tiny_checkpoint: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A head trained on the sample reviews for the tiny checkpoint, saved as the script does."""
    trained, report = train(tiny_checkpoint, data_dir, buckets=211, iterations=50)
    out = tmp_path_factory.mktemp("ngram-head")
    trained.save(out, report)
    return out


def test_grams_are_the_ids_then_hashed_bigrams_and_trigrams():
    grams = gram_ids(np.array([2, 5, 7, 3]), vocab_size=10, buckets=13)
    bigrams = [(2 * 10 + 5) % 13, (5 * 10 + 7) % 13, (7 * 10 + 3) % 13]
    trigrams = [(257 % 13), (573 % 13)]
    assert grams.tolist() == [2, 5, 7, 3, *(10 + g for g in bigrams + trigrams)]


def test_the_head_computes_what_the_regression_was_trained_on():
    """Serving skew check: table weights (coefficient * idf * mix) over the per-position norm give
    mix * (features @ coefficients + intercept) + offsets, the trained model's mixed share."""
    rng = np.random.default_rng(1)
    vocab_size, buckets = 30, 17
    rows = vocab_size + buckets
    texts = [rng.integers(1, vocab_size, size=n) for n in (2, 5, 9, 3)]
    grams = [gram_ids(ids, vocab_size, buckets) for ids in texts]
    idf = inverse_document_frequency(grams, rows)
    coefficients, intercept = rng.normal(size=(rows, 3)), rng.normal(size=3)
    offsets, mix = np.array([0.0, 0.3, -0.2]), 0.35
    expected = mix * ((tfidf_rows(grams, idf, rows).to_dense().numpy() @ coefficients) + intercept)
    head = NgramHead(
        vocab_size, buckets, 64, LABELS, "0" * 16, mix, coefficients * idf[:, None] * mix, idf**2,
        mix * intercept + offsets,
    )  # fmt: skip
    ids = np.zeros((len(texts), 9), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, text in enumerate(texts):
        ids[row, : len(text)], mask[row, : len(text)] = text, 1
    np.testing.assert_allclose(head.logits(ids, mask), expected + offsets, rtol=1e-5)


@pytest.mark.parametrize("eight_bit", [False, True])
def test_the_graph_mixes_in_the_heads_formula(tiny_bundle: Path, tmp_path: Path, eight_bit: bool):
    model = SentimentModel.load(tiny_bundle)
    feed = model.encode(TEXTS)  # right-padded: the short texts carry padding
    assert not feed["attention_mask"].all()
    transformer_logits = model.run(feed)
    head = random_head(json.loads((tiny_bundle / "config.json").read_text())["vocab_size"])
    path = tmp_path / "model.onnx"
    shutil.copy(tiny_bundle / "model.onnx", path)
    append_to_graph(path, head, eight_bit=eight_bit)
    session = ort.InferenceSession(str(path), session_options(1))
    mixed = session.run(None, feed)[0]
    expected = head.mixed(transformer_logits, feed["input_ids"], feed["attention_mask"])
    # The 8-bit table rounds each weight to 1/254 of its column's range.
    np.testing.assert_allclose(mixed, expected, atol=0.05 if eight_bit else 1e-4)
    assert np.abs(mixed - transformer_logits).max() > 0.5  # the head does move the logits
    length = int(feed["attention_mask"][0].sum())
    one = {name: tensor[:1, :length] for name, tensor in feed.items()}
    np.testing.assert_allclose(session.run(None, one)[0], mixed[:1], atol=1e-5)
    if eight_bit:
        tables = {t.name: t for t in onnx.load(path).graph.initializer}
        assert tables["ngram/table"].data_type == onnx.TensorProto.INT8


def test_training_learns_the_reviews_and_records_its_dev_figures(head: Path):
    trained = NgramHead.load(head)
    report = json.loads((head / "ngram_head.json").read_text())["training"]
    assert trained.labels == LABELS and 0 <= trained.mix <= 0.7
    assert trained.weights.shape == (trained.rows, 3)
    assert report["dev"]["head_alone"]["macro_f1"] > 0.9  # dev repeats the training reviews
    assert report["dev"]["mixed"]["macro_f1"] >= report["dev"]["checkpoint"]["macro_f1"] - 1e-9


def test_the_build_mixes_the_head_into_the_bundle(
    tiny_checkpoint: Path, tiny_reviews: Path, tiny_bundle: Path, head: Path, tmp_path: Path
):
    out = tmp_path / "bundle"
    result = build(
        BuildOptions(
            source=str(tiny_checkpoint),
            out=out,
            dev=tiny_reviews,
            register=False,
            latency_texts=20,
            ngram_head=head,
        )
    )
    assert result["parity"]["passed"]
    card = json.loads((out / "card.json").read_text())
    trained = NgramHead.load(head)
    assert card["ngram_head"]["mix"] == trained.mix and card["ngram_head"]["rows"] == trained.rows
    bare, mixed = SentimentModel.load(tiny_bundle), SentimentModel.load(out)
    feed = bare.encode(TEXTS)
    expected = trained.mixed(bare.run(feed), feed["input_ids"], feed["attention_mask"])
    np.testing.assert_allclose(mixed.run(feed), expected, atol=0.05)


def test_a_dynamically_quantized_build_gets_the_head_once(
    tiny_checkpoint: Path, tiny_reviews: Path, head: Path, tmp_path: Path
):
    out = tmp_path / "bundle"
    options = BuildOptions(
        source=str(tiny_checkpoint),
        out=out,
        dev=tiny_reviews,
        register=False,
        latency_texts=20,
        quantization="dynamic",
        ngram_head=head,
    )
    assert build(options)["parity"]["passed"]
    names = [node.name for node in onnx.load(out / "model.onnx").graph.node]
    assert names.count("ngram/mixed") == 1


def test_a_head_trained_for_other_settings_is_refused(
    tiny_checkpoint: Path, tiny_reviews: Path, tmp_path: Path
):
    foreign = random_head(vocab_size=50)  # another tokenizer's
    foreign.save(tmp_path / "head")
    options = BuildOptions(
        source=str(tiny_checkpoint),
        out=tmp_path / "bundle",
        dev=tiny_reviews,
        register=False,
        ngram_head=tmp_path / "head",
    )
    with pytest.raises(BuildRefused, match="train it again for this checkpoint"):
        build(options)
    assert not (tmp_path / "bundle").exists()


def test_the_mix_is_tuned_for_macro_f1_without_losing_binary_accuracy():
    """Two models that err independently: mixing them beats the transformer alone on macro-F1,
    and the chosen mix keeps the binary accuracy at least the transformer's."""
    from training.metrics import headline_metrics as sentiment_metrics

    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=3000)

    def noisy_log_probs(noise: float) -> np.ndarray:
        logits = 2.0 * np.eye(3)[labels] + rng.normal(scale=noise, size=(len(labels), 3))
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    transformer, head = noisy_log_probs(1.5), noisy_log_probs(1.8)
    mix, offsets, metrics = tune_mix(transformer, head, labels)
    alone = sentiment_metrics(transformer, labels)
    assert 0 < mix <= 0.7 and offsets.shape == (3,)
    assert metrics["macro_f1"] > alone["macro_f1"] + 0.01
    assert metrics["binary_accuracy"] >= alone["binary_accuracy"]
    mixed = (1 - mix) * transformer + mix * head + offsets
    assert sentiment_metrics(mixed, labels) == metrics
