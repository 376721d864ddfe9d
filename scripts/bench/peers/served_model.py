"""What every peer's server shares: the bench's settings from the environment and the one model.

Runs inside a peer's own environment, where only onnxruntime, tokenizers, numpy and the peer's
framework are installed: it imports nothing of the project but model_service.inference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from model_service.inference import SentimentModel


@dataclass(frozen=True)
class PeerSettings:
    bundle: str
    port: int
    workers: int
    intra_op_threads: int
    max_batch_size: int

    @classmethod
    def from_env(cls) -> PeerSettings:
        return cls(
            bundle=os.environ["BENCH_BUNDLE"],
            port=int(os.environ["BENCH_PORT"]),
            workers=int(os.environ["BENCH_WORKERS"]),
            intra_op_threads=int(os.environ["BENCH_INTRA_OP_THREADS"]),
            max_batch_size=int(os.environ["BENCH_MAX_BATCH_SIZE"]),
        )


def load_model(settings: PeerSettings) -> SentimentModel:
    """The bundle, loaded and warmed as the model service loads it."""
    model = SentimentModel.load(settings.bundle, intra_op_threads=settings.intra_op_threads)
    model.warm_up()
    return model


def predict(model: SentimentModel, texts: Sequence[str]) -> list[dict]:
    """The model service's prediction objects, one per text, in order."""
    return [prediction.to_dict() for prediction in model.predict(texts)]
