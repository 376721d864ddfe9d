"""The model behind PyTriton: Triton's C++ server batches, Python model instances predict.

Run by the bench in the peer's environment: `python -m scripts.bench.peers.pytriton_app`.
Triton speaks the KServe v2 protocol: one BYTES input (the review texts) and one BYTES output
(each text's prediction, as the model service's JSON object).
"""

from __future__ import annotations

import json

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from scripts.bench.peers.served_model import PeerSettings, load_model, predict

MODEL_NAME = "sentiment"


def classifier(settings: PeerSettings):
    """One model instance's inference callable: a (batch, 1) array of UTF-8 texts in."""
    model = load_model(settings)

    @batch
    def infer(texts: np.ndarray) -> dict[str, np.ndarray]:
        decoded = [text.decode("utf-8") for text in texts[:, 0]]
        rows = [[json.dumps(p).encode("utf-8")] for p in predict(model, decoded)]
        return {"predictions": np.array(rows, dtype=np.object_)}

    return infer


def main() -> None:
    settings = PeerSettings.from_env()
    config = TritonConfig(
        http_address="127.0.0.1", http_port=settings.port, allow_grpc=False, allow_metrics=False
    )
    with Triton(config=config) as triton:
        triton.bind(
            model_name=MODEL_NAME,
            infer_func=[classifier(settings) for _ in range(settings.workers)],
            inputs=[Tensor(name="texts", dtype=bytes, shape=(1,))],
            outputs=[Tensor(name="predictions", dtype=bytes, shape=(1,))],
            config=ModelConfig(
                max_batch_size=settings.max_batch_size,
                batcher=DynamicBatcher(max_queue_delay_microseconds=0),
            ),
        )
        triton.serve()


if __name__ == "__main__":
    main()
