"""The n-gram head: trained as the graph computes it, mixed into both graphs, refused if foreign."""

import dataclasses
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
    rating_labels,
    tfidf_rows,
    train,
    tune_mix,
    tune_stars_mix,
)
from training.rating_head import Calibration, RatingHead, StarsMix
from training.rating_head import append_to_graph as append_stars
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


def with_stars_share(head: NgramHead, rating_head: RatingHead, share: float) -> NgramHead:
    """The head with a share of the stars, served with a calibration unlike the rating head's."""
    mix = StarsMix(share, Calibration(1.3, 0.4, 0.9), rating_head.digest, dev={})
    return dataclasses.replace(head, stars=mix)


def build_options(checkpoint: Path, dev: Path, head: Path, out: Path, **settings) -> BuildOptions:
    """A build of the checkpoint with the n-gram head in `head`, not registered."""
    return BuildOptions(
        source=str(checkpoint),
        out=out,
        dev=dev,
        register=False,
        latency_texts=20,
        ngram_head=head,
        **settings,
    )


def pooled_and_feed(checkpoint: Path, texts: list[str]) -> tuple[np.ndarray, dict]:
    """The checkpoint's pooled output in PyTorch, and the right-padded ONNX feed of the texts."""
    import torch
    from transformers import AutoTokenizer

    from training.train import ReviewClassifier

    model = ReviewClassifier.load(checkpoint).eval()
    batch = AutoTokenizer.from_pretrained(checkpoint)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = model.classifier.bert(**batch).pooler_output.numpy()
    return pooled, {name: tensor.numpy() for name, tensor in batch.items()}


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


def test_training_learns_the_reviews_and_records_its_dev_figures(head: Path, tiny_checkpoint: Path):
    trained = NgramHead.load(head)
    report = json.loads((head / "ngram_head.json").read_text())["training"]
    assert trained.labels == LABELS and 0 <= trained.mix <= 0.7
    assert trained.weights.shape == (trained.rows, 3)
    assert report["dev"]["head_alone"]["macro_f1"] > 0.9  # dev repeats the training reviews
    assert report["dev"]["mixed"]["macro_f1"] >= report["dev"]["checkpoint"]["macro_f1"] - 1e-9
    stars = report["dev"]["stars"]  # the tiny checkpoint has a rating head
    assert stars["mixed"]["rmse"] <= stars["rating_head_alone"]["rmse"] + 1e-9
    if trained.stars is not None:
        assert trained.stars.share == stars["share"] > 0
        assert trained.stars.rating_head == RatingHead.load(tiny_checkpoint).digest


def test_the_heads_share_of_the_stars_is_kept_only_where_it_lowers_the_dev_error():
    """Ratings the rating head sees only partly and the head's label logits see too: a share of
    them lowers the error; a head that knows nothing of the ratings gets none."""
    rng = np.random.default_rng(3)
    ratings = rng.integers(1, 11, size=4000)
    rating_logits = -0.05 * (np.arange(1, 11) - ratings[:, None]) ** 2
    rating_logits += rng.normal(scale=2.0, size=rating_logits.shape)
    labels = ["negative", "neutral", "positive"]
    informed = 2.0 * np.eye(3)[rating_labels(labels)[ratings - 1]] + rng.normal(size=(4000, 3))
    share, calibration, figures = tune_stars_mix(rating_logits, informed, labels, ratings)
    _, alone = tune_stars_mix(rating_logits, np.zeros((4000, 3)), labels, ratings)[1:]
    assert share > 0 and figures["rmse"] < alone["rmse"] - 0.1
    mixed = rating_logits + share * informed[:, rating_labels(labels)]
    np.testing.assert_allclose(calibration.stars(mixed).mean(), ratings.mean(), atol=0.05)
    noise = rng.normal(size=(4000, 3))
    assert tune_stars_mix(rating_logits, noise, labels, ratings)[0] == 0


def test_the_graph_mixes_the_head_into_the_rating_logits(tiny_checkpoint: Path, tmp_path: Path):
    """Rating k's logit gains share x the head's logit for k's label, before the calibration."""
    from training.build import export_fp32

    rating_head = RatingHead.load(tiny_checkpoint)
    vocab_size = json.loads((tiny_checkpoint / "config.json").read_text())["vocab_size"]
    head = with_stars_share(random_head(vocab_size), rating_head, share=10.0)
    exported = export_fp32(str(tiny_checkpoint), tmp_path / "fp32")
    append_stars(exported, rating_head, head.stars.calibration)
    append_to_graph(exported, head, eight_bit=False)
    pooled, feed = pooled_and_feed(tiny_checkpoint, TEXTS)
    assert not feed["attention_mask"].all()
    session = ort.InferenceSession(str(exported), session_options(1))
    served = session.run(["stars"], {i.name: feed[i.name] for i in session.get_inputs()})[0]
    rating_logits = rating_head.logits(pooled)
    mixed = head.mixed_ratings(rating_logits, feed["input_ids"], feed["attention_mask"])
    np.testing.assert_allclose(served, head.stars.calibration.stars(mixed), atol=1e-4)
    unmixed = head.stars.calibration.stars(rating_logits)
    assert np.abs(served - unmixed).max() > 0.1  # the head does move the stars


def test_a_share_of_the_stars_needs_a_graph_with_stars(tiny_bundle: Path, tmp_path: Path):
    path = tmp_path / "model.onnx"
    onnx.save(_without_stars(onnx.load(tiny_bundle / "model.onnx")), path)
    vocab_size = json.loads((tiny_bundle / "config.json").read_text())["vocab_size"]
    head = dataclasses.replace(
        random_head(vocab_size), stars=StarsMix(1.0, Calibration(), "0" * 16, dev={})
    )
    with pytest.raises(ValueError, match="the graph has no stars"):
        append_to_graph(path, head, eight_bit=False)


def _without_stars(model):
    kept = [output for output in model.graph.output if output.name != "stars"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    drop = [node for node in model.graph.node if node.name.startswith("stars/")]
    for node in drop:
        model.graph.node.remove(node)
    return model


def test_the_build_mixes_the_head_into_the_bundle(
    tiny_checkpoint: Path, tiny_reviews: Path, tiny_bundle: Path, head: Path, tmp_path: Path
):
    out = tmp_path / "bundle"
    result = build(build_options(tiny_checkpoint, tiny_reviews, head, out))
    assert result["parity"]["passed"]
    card = json.loads((out / "card.json").read_text())
    trained = NgramHead.load(head)
    assert card["ngram_head"]["mix"] == trained.mix and card["ngram_head"]["rows"] == trained.rows
    bare, mixed = SentimentModel.load(tiny_bundle), SentimentModel.load(out)
    feed = bare.encode(TEXTS)
    expected = trained.mixed(bare.run(feed), feed["input_ids"], feed["attention_mask"])
    np.testing.assert_allclose(mixed.run(feed), expected, atol=0.05)


def test_the_build_serves_the_heads_share_of_the_stars(
    tiny_checkpoint: Path, tiny_reviews: Path, head: Path, tmp_path: Path
):
    rating_head = RatingHead.load(tiny_checkpoint)
    shared = with_stars_share(NgramHead.load(head), rating_head, share=1.0)
    shared.save(tmp_path / "head")
    out = tmp_path / "bundle"
    options = build_options(tiny_checkpoint, tiny_reviews, tmp_path / "head", out)
    assert build(options)["parity"]["stars"]["passed"]
    card = json.loads((out / "card.json").read_text())
    assert card["stars"]["ngram_head_share"] == 1.0 and card["ngram_head"]["stars_share"] == 1.0
    assert card["stars"]["calibration"]["temperature"] == shared.stars.calibration.temperature
    pooled, feed = pooled_and_feed(tiny_checkpoint, TEXTS)
    mixed = shared.mixed_ratings(
        rating_head.logits(pooled), feed["input_ids"], feed["attention_mask"]
    )
    _, stars, _ = SentimentModel.load(out).infer(TEXTS)
    # The INT8 encoder and the 8-bit table: within the parity gate's tolerance of the formula.
    np.testing.assert_allclose(stars, shared.stars.calibration.stars(mixed), atol=0.2)


def test_a_share_of_another_rating_heads_stars_is_refused(
    tiny_checkpoint: Path, tiny_reviews: Path, head: Path, tmp_path: Path
):
    other = RatingHead(np.zeros((10, 8), np.float32), np.zeros(10, np.float32))
    with_stars_share(NgramHead.load(head), other, share=1.0).save(tmp_path / "head")
    options = build_options(tiny_checkpoint, tiny_reviews, tmp_path / "head", tmp_path / "bundle")
    with pytest.raises(BuildRefused, match="train the n-gram head again for this checkpoint"):
        build(options)
    assert not (tmp_path / "bundle").exists()


def test_a_dynamically_quantized_build_gets_the_head_once(
    tiny_checkpoint: Path, tiny_reviews: Path, head: Path, tmp_path: Path
):
    out = tmp_path / "bundle"
    options = build_options(tiny_checkpoint, tiny_reviews, head, out, quantization="dynamic")
    assert build(options)["parity"]["passed"]
    names = [node.name for node in onnx.load(out / "model.onnx").graph.node]
    assert names.count("ngram/mixed") == 1


def test_a_head_trained_for_other_settings_is_refused(
    tiny_checkpoint: Path, tiny_reviews: Path, tmp_path: Path
):
    foreign = random_head(vocab_size=50)  # another tokenizer's
    foreign.save(tmp_path / "head")
    options = build_options(tiny_checkpoint, tiny_reviews, tmp_path / "head", tmp_path / "bundle")
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
