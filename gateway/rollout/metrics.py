"""The rollout's Prometheus metrics, on the app's own registry (served at /metrics)."""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RolloutMetrics:
    """Predictions stored per model and label, the shadow's outcomes and latency, the agreement."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "gateway_predictions",
            "Predictions stored, live and candidate, by the model tag that made them and label.",
            ["model", "label"],
            registry=registry,
        )
        self.shadow = Counter(
            "gateway_shadow_predictions",
            "Texts sent to the candidate model by outcome: stored, dropped (queue full) or "
            "failed (the candidate was down, slow or answered an error).",
            ["outcome"],
            registry=registry,
        )
        self.shadow_latency = Histogram(
            "gateway_shadow_latency_seconds",
            "Duration of the candidate's /classify calls, failed ones included.",
            registry=registry,
        )
        self.agreement = Gauge(
            "gateway_model_agreement",
            "Share of reviews the live and the candidate model gave the same label, as the "
            "comparison last computed it.",
            ["live", "candidate"],
            registry=registry,
        )
        for outcome in ("stored", "dropped", "failed"):
            self.shadow.labels(outcome)  # present at 0 from the start

    def count_predictions(self, model_labels: Iterable[tuple[str, str]]) -> None:
        """One more stored prediction per (model tag, label)."""
        for model, label in model_labels:
            self.predictions.labels(model, label).inc()
