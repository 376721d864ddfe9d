"""The evaluation figures on small hand-checked cases, and the serving-side import boundary."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.evaluate import Scored, compare
from training.metrics import sentiment_metrics

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
