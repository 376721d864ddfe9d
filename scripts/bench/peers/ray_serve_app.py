"""The model behind Ray Serve: its HTTP proxy actor routes to replica actors that `@serve.batch`.

Run by the bench in the peer's environment: `python -m scripts.bench.peers.ray_serve_app`.
"""

from __future__ import annotations

import signal
import threading

import ray
from ray import serve
from starlette.requests import Request

from scripts.bench.peers.served_model import PeerSettings, load_model, predict

SETTINGS = PeerSettings.from_env()
# Ray Serve's default (5 requests in flight per replica) would cap a batch at 5 texts.
MAX_ONGOING_REQUESTS = 256
NO_ACCESS_LOG = {"enable_access_log": False, "log_level": "WARNING"}


@serve.deployment(
    num_replicas=SETTINGS.workers,
    ray_actor_options={"num_cpus": 1},
    max_ongoing_requests=MAX_ONGOING_REQUESTS,
    logging_config=NO_ACCESS_LOG,
)
class Classifier:
    def __init__(self) -> None:
        self.model = load_model(SETTINGS)

    async def __call__(self, request: Request) -> dict:
        if request.url.path.rstrip("/") == "/health":
            return {"status": "ok"}
        body = await request.json()
        return {"predictions": await self.classify(body["texts"])}

    @serve.batch(max_batch_size=SETTINGS.max_batch_size, batch_wait_timeout_s=0.0)
    async def classify(self, batch: list[list[str]]) -> list[list[dict]]:
        predictions = iter(predict(self.model, [text for texts in batch for text in texts]))
        return [[next(predictions) for _ in texts] for texts in batch]


def main() -> None:
    ray.init(num_cpus=SETTINGS.workers, include_dashboard=False, logging_level="WARNING")
    serve.start(http_options={"host": "127.0.0.1", "port": SETTINGS.port})
    serve.run(Classifier.bind(), route_prefix="/")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
