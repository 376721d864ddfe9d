"""The model behind LitServe: uvicorn API processes queue requests to batching inference workers.

Run by the bench in the peer's environment: `python -m scripts.bench.peers.litserve_app`.
"""

from __future__ import annotations

import litserve as ls

from scripts.bench.peers.served_model import PeerSettings, load_model, predict


class ClassifyAPI(ls.LitAPI):
    """Each request carries one list of texts; a batch is several requests' lists."""

    def setup(self, device: str) -> None:
        self.model = load_model(PeerSettings.from_env())

    def decode_request(self, request: dict) -> list[str]:
        return request["texts"]

    def predict(self, batch: list[list[str]]) -> list[list[dict]]:
        predictions = iter(predict(self.model, [text for texts in batch for text in texts]))
        return [[next(predictions) for _ in texts] for texts in batch]

    def encode_response(self, output: list[dict]) -> dict:
        return {"predictions": output}


def main() -> None:
    settings = PeerSettings.from_env()
    api = ClassifyAPI(
        max_batch_size=settings.max_batch_size, batch_timeout=0.0, api_path="/classify"
    )
    # fast_queue: LitServe's documented setting above ~100 requests/s (ZeroMQ instead of
    # multiprocessing queues between its API and inference processes).
    server = ls.LitServer(
        api, accelerator="cpu", workers_per_device=settings.workers, fast_queue=True
    )
    server.run(
        host="127.0.0.1", port=settings.port, log_level="warning", generate_client_file=False
    )


if __name__ == "__main__":
    main()
