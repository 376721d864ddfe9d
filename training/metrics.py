"""The project's sentiment figures, computed by scikit-learn, and the dev-set tuning they drive.

Columns of probabilities or log-probabilities and label indices follow
`model_service.inference.LABELS` (negative, neutral, positive).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, recall_score

from model_service.inference import LABELS, NEUTRAL, POSITIVE, rounded_stars

NEGATIVE = LABELS.index("negative")
CLASSES = list(range(len(LABELS)))


def binary_accuracy(gold: np.ndarray, scores: np.ndarray) -> float:
    """Balanced accuracy on the polar reviews (1–4 and 9–10 stars), NSMC-comparable.

    A review counts as positive when it scores P(pos) > P(neg) (log-probabilities order the same
    way); the figure is the mean of the positive and the negative recall, a class absent from
    `gold` counting 0.
    """
    polar = gold != NEUTRAL
    if not polar.any():
        return 0.0
    leans = np.where(scores[polar, POSITIVE] > scores[polar, NEGATIVE], POSITIVE, NEGATIVE)
    recalls = recall_score(
        gold[polar], leans, labels=[POSITIVE, NEGATIVE], average=None, zero_division=0
    )
    return float(np.mean(recalls))


def headline_metrics(scores: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Macro-F1 of the argmax decision and the binary accuracy: what picks checkpoints, logit
    offsets and mixes on dev."""
    _, _, f1, _ = precision_recall_fscore_support(
        gold, scores.argmax(axis=1), labels=CLASSES, zero_division=0
    )
    return {"macro_f1": float(np.mean(f1)), "binary_accuracy": binary_accuracy(gold, scores)}


def sentiment_metrics(gold: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray) -> dict:
    """The full report for one model on one dataset, `predicted` being its served labels.

    binary_accuracy as `binary_accuracy`; macro_f1 over the three classes; accuracy; per-class
    precision/recall/f1; the confusion matrix (rows = gold, columns = predicted).
    """
    if len(gold):
        confusion = confusion_matrix(gold, predicted, labels=CLASSES)
        precision, recall, f1, support = precision_recall_fscore_support(
            gold, predicted, labels=CLASSES, zero_division=0
        )
    else:  # scikit-learn refuses empty input; an empty dataset scores zero
        confusion = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
        precision = recall = f1 = support = np.zeros(len(LABELS))
    per_class = {
        label: {
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(support[index]),
            "predicted": int(confusion[:, index].sum()),
        }
        for index, label in enumerate(LABELS)
    }
    return {
        "n": len(gold),
        "binary_accuracy": binary_accuracy(gold, probabilities),
        "macro_f1": float(np.mean(f1)),
        "accuracy": float(np.trace(confusion) / len(gold)) if len(gold) else 0.0,
        "per_class": per_class,
        "confusion_matrix": {"labels": list(LABELS), "rows": "gold", "matrix": confusion.tolist()},
    }


def stars_metrics(ratings: np.ndarray, stars: np.ndarray | None) -> dict:
    """The predicted stars against the true ratings (1–10): `stars_mae`, `stars_rmse` and
    `stars_confusion` (rows: the rating, columns: the stars rounded to a whole star). Each is None
    for a model without stars, so a report says so rather than leaving the keys out."""
    if stars is None:
        return {"stars_mae": None, "stars_rmse": None, "stars_confusion": None}
    served = np.array(rounded_stars(np.asarray(stars)))  # as predictions carry them
    whole = np.clip(np.floor(served + 0.5), 1, 10).astype(np.int64)
    ratings = np.asarray(ratings, dtype=np.int64)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (ratings - 1, whole - 1), 1)
    error = served - ratings
    return {
        "stars_mae": float(np.abs(error).mean()) if len(error) else 0.0,
        "stars_rmse": float(np.sqrt((error**2).mean())) if len(error) else 0.0,
        "stars_confusion": {
            "ratings": list(range(1, 11)),
            "rows": "rating",
            "columns": "stars, rounded",
            "matrix": confusion.tolist(),
        },
    }


def score(metrics: dict[str, float]) -> float:
    """One figure to maximise: the mean of macro-F1 and binary accuracy."""
    return (metrics["macro_f1"] + metrics["binary_accuracy"]) / 2


def tune_logit_offsets(log_probs: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, dict]:
    """Offsets added to the neutral and positive logits that maximise the dev score.

    Training on skewed ratings leaves the decision boundaries where the training prior put
    them; shifting them on dev (its stated use) is folded into the classifier's bias, so the
    exported model needs no post-processing.
    """
    best_offsets, best = np.zeros(3, dtype=np.float32), headline_metrics(log_probs, gold)
    for neutral in np.arange(-1.5, 1.51, 0.1):
        for positive in np.arange(-1.5, 1.51, 0.1):
            offsets = np.array([0.0, neutral, positive], dtype=np.float32)
            metrics = headline_metrics(log_probs + offsets, gold)
            if score(metrics) > score(best):
                best_offsets, best = offsets, metrics
    return best_offsets, best
