"""The evaluation figures on small hand-checked cases, and the serving-side import boundary."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_service.inference import SentimentModel
from training.data import read_reviews
from training.evaluate import Scored, compare, evaluate, summary
from training.metrics import sentiment_metrics, stars_metrics

NEG, NEU, POS = 0, 1, 2


def probabilities_for(labels: list[int]) -> np.ndarray:
    """Probabilities whose argmax is the label; a neutral row leans (barely) positive."""
    rows = {NEG: [0.7, 0.2, 0.1], NEU: [0.25, 0.5, 0.25 + 1e-3], POS: [0.1, 0.2, 0.7]}
    return np.array([rows[label] for label in labels])


def test_metrics_on_a_hand_checked_case():
    gold = np.array([NEG, NEG, NEU, NEU, POS, POS, POS, POS])
    predicted = np.array([NEG, POS, NEU, NEG, POS, POS, POS, NEU])
    metrics = sentiment_metrics(gold, probabilities_for(predicted.tolist()), predicted)
    # Binary: positives lean positive 4/4 (the neutral row leans positive by 1e-3), negatives 1/2.
    assert metrics["binary_accuracy"] == pytest.approx((4 / 4 + 1 / 2) / 2)
    per_class = metrics["per_class"]
    assert per_class["negative"]["precision"] == pytest.approx(1 / 2)
    assert per_class["negative"]["recall"] == pytest.approx(1 / 2)
    assert per_class["neutral"]["precision"] == pytest.approx(1 / 2)
    assert per_class["positive"]["precision"] == pytest.approx(3 / 4)
    assert per_class["positive"]["recall"] == pytest.approx(3 / 4)
    f1 = [0.5, 0.5, 0.75]
    assert metrics["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["confusion_matrix"]["matrix"] == [[1, 0, 1], [1, 1, 0], [0, 1, 3]]
    assert metrics["n"] == 8


def test_comparison_reports_agreement_and_differences():
    gold = np.array([NEG, NEU, POS, POS])
    old_labels, new_labels = np.array([NEG, NEG, POS, NEU]), np.array([NEG, NEU, POS, POS])
    old = Scored("m:old", probabilities_for(old_labels.tolist()), old_labels, 1.0)
    new = Scored("m:new", probabilities_for(new_labels.tolist()), new_labels, 1.0)
    metrics = [sentiment_metrics(gold, s.probabilities, s.predicted) for s in (old, new)]
    report = compare(gold, old, new, metrics)
    assert report["agreement"] == pytest.approx(2 / 4)
    assert report["label_crosstab"]["matrix"] == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]
    assert report["differences"]["accuracy"] == pytest.approx(1.0 - 2 / 4)
    assert report["differences"]["per_class"]["neutral"]["recall"] == pytest.approx(1.0)


def test_stars_metrics_on_a_hand_checked_case():
    ratings = np.array([1, 5, 10, 7])
    stars = np.array([1.4, 5.5, 9.2, 7.004])  # served as 1.4, 5.5, 9.2, 7.0
    metrics = stars_metrics(ratings, stars)
    assert metrics["stars_mae"] == pytest.approx((0.4 + 0.5 + 0.8 + 0.0) / 4)
    assert metrics["stars_rmse"] == pytest.approx(np.sqrt((0.16 + 0.25 + 0.64) / 4))
    matrix = np.array(metrics["stars_confusion"]["matrix"])
    # Rows are the true rating, columns the stars rounded to whole stars (5.5 rounds up).
    assert {(r + 1, c + 1) for r, c in zip(*np.nonzero(matrix), strict=True)} == {
        (1, 1), (5, 6), (10, 9), (7, 7)
    }  # fmt: skip
    assert matrix.sum() == 4
    assert stars_metrics(ratings, None) == {
        "stars_mae": None, "stars_rmse": None, "stars_confusion": None
    }  # fmt: skip


def test_evaluate_reports_stars_beside_the_label_metrics(
    tiny_bundle, headless_bundle, tiny_reviews
):
    report = evaluate([str(tiny_bundle), str(headless_bundle)], tiny_reviews, progress=False)
    with_stars, without = report["models"]
    reviews = read_reviews(tiny_reviews)
    served = SentimentModel.load(tiny_bundle).predict([r.text for r in reviews])
    errors = np.array([p.stars - r.rating for p, r in zip(served, reviews, strict=True)])
    assert with_stars["stars_mae"] == pytest.approx(np.abs(errors).mean())
    assert with_stars["stars_rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    confusion = np.array(with_stars["stars_confusion"]["matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == len(reviews)
    assert confusion.sum(axis=1).tolist() == [
        sum(r.rating == rating for r in reviews) for rating in range(1, 11)
    ]
    assert with_stars["macro_f1"] > 0.9  # the label figures are still there
    assert without["stars_mae"] is None and without["stars_confusion"] is None
    assert report["differences"]["stars_mae"] is None  # one of the two has no stars
    assert "stars: mae=" in summary(report) and "stars: none" in summary(report)


def test_the_inference_module_needs_no_bentoml_or_torch():
    code = (
        "import sys, model_service.inference;"
        "print(sorted(m for m in ('bentoml', 'torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
