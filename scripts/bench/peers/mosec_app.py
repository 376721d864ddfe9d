"""The model behind Mosec: its Rust HTTP front end batches, Python worker processes predict.

Run by the bench in the peer's environment: `python -m scripts.bench.peers.mosec_app`.
"""

from __future__ import annotations

import json
import os

from mosec import Server, Worker

from scripts.bench.peers.served_model import PeerSettings, load_model, predict

# Mosec's smallest batching window: a max_wait_time below 1 ms means its default of 10 ms.
WAIT_MS = 1


class Classify(Worker):
    """One Mosec worker process: a batch of request bodies in, one response body each out."""

    def __init__(self) -> None:
        super().__init__()
        self.model = load_model(PeerSettings.from_env())

    def forward(self, data: list[dict]) -> list[dict]:
        texts = [text for body in data for text in body["texts"]]
        predictions = iter(predict(self.model, texts))
        return [{"predictions": [next(predictions) for _ in body["texts"]]} for body in data]

    def serialize(self, data: dict) -> bytes:
        # Mosec's default indents its JSON; the model service answers compact JSON.
        return json.dumps(data).encode()


def main() -> None:
    settings = PeerSettings.from_env()
    os.environ.setdefault("MOSEC_PORT", str(settings.port))
    os.environ.setdefault("MOSEC_ADDRESS", "127.0.0.1")
    server = Server()
    server.append_worker(
        Classify,
        num=settings.workers,
        max_batch_size=settings.max_batch_size,
        max_wait_time=WAIT_MS,
        route="/classify",
    )
    server.run()


if __name__ == "__main__":
    main()
