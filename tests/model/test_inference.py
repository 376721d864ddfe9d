"""The inference module on the tiny bundle: order, bucketing, truncation, labels and positivity."""

import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from model_service.inference import (
    LABELS,
    MAX_SUB_BATCH,
    MAX_SUB_BATCH_TOKENS,
    SentimentModel,
    available_cores,
    decide,
    label_probabilities,
    positivity,
    session_options,
    sub_batches,
)
from training.tiny import SAMPLE_REVIEWS


@pytest.fixture(scope="module")
def model(tiny_bundle) -> SentimentModel:
    return SentimentModel.load(tiny_bundle)


def varied_texts(count: int) -> list[str]:
    """Sample reviews glued together into texts of many different lengths."""
    texts = [text for text, _ in SAMPLE_REVIEWS]
    return [" ".join(texts[i % len(texts) : i % len(texts) + 1 + i % 5]) for i in range(count)]


def test_predictions_come_back_in_input_order(model):
    texts = varied_texts(150)
    batched = model.predict(texts)
    reversed_batch = model.predict(texts[::-1])
    assert len(batched) == len(texts)
    assert [p.label for p in reversed_batch[::-1]] == [p.label for p in batched]
    assert [p.positivity for p in reversed_batch[::-1]] == pytest.approx(
        [p.positivity for p in batched], abs=0.05
    )


@pytest.fixture(scope="module")
def fp32_model(tiny_bundle, tiny_checkpoint, tmp_path_factory) -> SentimentModel:
    """The tiny bundle with its INT8 model swapped for the FP32 export of the same checkpoint."""
    from training.build import export_fp32

    bundle = tmp_path_factory.mktemp("fp32") / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    exported = export_fp32(str(tiny_checkpoint), tmp_path_factory.mktemp("fp32-export"))
    shutil.copyfile(exported, bundle / "model.onnx")
    return SentimentModel.load(bundle)


# More than one sub-batch, lengths from 3 tokens to past max_tokens.
BUCKETED_TEXTS = [*varied_texts(150), "영화 " * 200]


def test_length_buckets_give_the_same_results_as_one_text_at_a_time(fp32_model):
    batched, _, _ = fp32_model.infer(BUCKETED_TEXTS)
    alone = np.concatenate([fp32_model.infer([text])[0] for text in BUCKETED_TEXTS])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-5)


def test_int8_buckets_give_the_same_results_as_one_text_at_a_time(model):
    # Static INT8 has fixed activation scales, so batching never moves a result.
    batched = model.predict(BUCKETED_TEXTS)
    alone = [model.predict([text])[0] for text in BUCKETED_TEXTS]
    assert batched == alone


def test_sub_batches_cover_every_text_once_within_the_limits():
    lengths = np.array([3, 64, 5, 64, 12, 40, 7, 3, 64, 30] * 30)
    batches = sub_batches(lengths)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert np.all(np.diff(lengths[flat]) >= 0)  # sorted by token count across buckets
    for batch in batches:
        assert len(batch) <= MAX_SUB_BATCH
        assert len(batch) * lengths[batch].max() <= MAX_SUB_BATCH_TOKENS


def test_long_text_is_truncated_and_flagged(model):
    short, long = model.predict(["재밌어요", "정말 재밌는 영화였어요 " * 50])
    assert not short.truncated
    assert long.truncated
    assert long.label in LABELS
    assert model.predict(["정말 재밌는 영화였어요 " * 50]) == [long]  # the one-text path


def test_probabilities_sum_to_one_and_positivity_follows_them(model):
    for prediction in model.predict(varied_texts(40)):
        probs = prediction.probabilities
        assert set(probs) == set(LABELS)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert prediction.positivity == pytest.approx(probs["positive"] + 0.5 * probs["neutral"])
        assert prediction.confidence == pytest.approx(probs[prediction.label])
        assert prediction.label == max(probs, key=probs.get)
        assert prediction.model == model.model_tag


def test_the_tiny_model_reads_its_sample_reviews(model):
    expected = {"negative": range(1, 5), "neutral": range(5, 9), "positive": range(9, 11)}
    predictions = model.predict([text for text, _ in SAMPLE_REVIEWS])
    right = [
        p.label
        for p, (_, rating) in zip(predictions, SAMPLE_REVIEWS, strict=True)
        if rating in expected[p.label]
    ]
    assert len(right) >= 0.9 * len(SAMPLE_REVIEWS)


def test_empty_input_and_to_dict(model):
    assert model.predict([]) == []
    body = model.predict(["최고"])[0].to_dict()
    assert set(body) == {
        "label", "confidence", "probabilities", "positivity", "stars", "model", "truncated"
    }  # fmt: skip


def test_threads_default_to_the_cores_this_process_has(tiny_bundle):
    default = SentimentModel.load(tiny_bundle)
    pinned = SentimentModel.load(tiny_bundle, intra_op_threads=1, model_tag="korean-sentiment:x")
    assert default._session.get_session_options().intra_op_num_threads == available_cores()
    assert pinned._session.get_session_options().intra_op_num_threads == 1
    assert pinned.predict(["좋다"])[0].model == "korean-sentiment:x"


def test_sessions_do_not_fuse_residuals_into_the_slow_skip_layer_norm(tiny_bundle, tmp_path):
    # onnxruntime would fuse each residual Add + LayerNormalization back into its slower
    # SkipLayerNormalization kernel at load; the options every session takes forbid that.
    options = session_options(1)
    options.optimized_model_filepath = str(tmp_path / "as-loaded.onnx")
    ort.InferenceSession(
        str(tiny_bundle / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    ops = {node.op_type for node in onnx.load(tmp_path / "as-loaded.onnx").graph.node}
    assert "LayerNormalization" in ops and "SkipLayerNormalization" not in ops


def test_two_class_probabilities_put_neutral_at_zero():
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [0.1, 0.0]])
    probs = label_probabilities(logits, ["negative", "positive"])
    assert probs[:, LABELS.index("neutral")].tolist() == [0.0, 0.0, 0.0]
    assert probs.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    # A label order other than the canonical one is followed, not assumed.
    swapped = label_probabilities(logits, ["positive", "negative"])
    assert swapped[:, LABELS.index("positive")] == pytest.approx(probs[:, LABELS.index("negative")])


def test_two_class_neutral_threshold():
    probs = np.array([[0.55, 0.0, 0.45], [0.1, 0.0, 0.9], [0.3, 0.0, 0.7]])
    winner, confidence = decide(probs, neutral_threshold=0.7)
    assert [LABELS[w] for w in winner] == ["neutral", "positive", "positive"]
    assert confidence.tolist() == pytest.approx([0.55, 0.9, 0.7])  # the winning class's probability
    three_class, _ = decide(probs, neutral_threshold=None)
    assert [LABELS[w] for w in three_class] == ["negative", "positive", "positive"]


def test_positivity_averages_positive_and_half_neutral():
    probs = np.array([[0.2, 0.4, 0.4], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert positivity(probs).tolist() == pytest.approx([0.6, 0.0, 0.5])


@pytest.mark.parametrize(
    ("cpu_max", "cores"), [("200000 100000\n", 2), ("150000 100000\n", 2), ("max 100000\n", None)]
)
def test_a_cgroup_quota_caps_the_cores(tmp_path, cpu_max, cores):
    from model_service.inference import _cgroup_cpu_quota

    quota_file = tmp_path / "cpu.max"
    quota_file.write_text(cpu_max)
    assert _cgroup_cpu_quota(quota_file) == cores
    assert _cgroup_cpu_quota(tmp_path / "missing") is None


def test_predictions_carry_stars_that_follow_the_ratings(model):
    """The tiny bundle's rating head, served: stars in [1, 10] with two decimals, a 10-star
    review above a 1-star one, and each rating band above the one below it on average."""
    assert model.has_stars
    texts, ratings = zip(*SAMPLE_REVIEWS, strict=True)
    stars = [p.stars for p in model.predict(list(texts))]
    assert all(isinstance(s, float) and 1 <= s <= 10 and round(s, 2) == s for s in stars)
    by_rating = dict(zip(ratings, stars, strict=False))  # the last review of each rating
    assert by_rating[10] > by_rating[1] + 3
    bands = [
        [s for s, r in zip(stars, ratings, strict=True) if r in band]
        for band in (range(1, 5), range(5, 9), range(9, 11))
    ]
    means = [np.mean(band) for band in bands]
    assert means[0] < means[1] < means[2]


def test_one_text_and_a_batch_give_the_same_stars(model):
    texts = BUCKETED_TEXTS[:40]
    batched = [p.stars for p in model.predict(texts)]
    alone = [model.predict([text])[0].stars for text in texts]
    assert batched == alone
    assert all(s is not None for s in alone)


def test_a_bundle_without_a_rating_head_has_no_stars(headless_bundle):
    model = SentimentModel.load(headless_bundle)
    assert not model.has_stars
    one, *batch = model.predict(["정말 재밌는 영화였어요"]) + model.predict(varied_texts(5))
    assert one.stars is None and one.to_dict()["stars"] is None
    assert [p.stars for p in batch] == [None] * 5
    assert one.label in LABELS  # everything else is served as before
