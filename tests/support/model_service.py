"""A real `bentoml serve` of the model service on a free loopback port, for integration tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.server_process import ServerProcess

SERVICE = "model_service.service:SentimentService"


class ModelServiceProcess(ServerProcess):
    """`bentoml serve` of `model_tag` from the model store at `bentoml_home`, ready once /readyz is.

    `env` adds the service's settings, e.g. {"MODEL_SERVICE_TOKEN": "..."}.
    """

    name = "model-service"
    ready_path = "/readyz"

    def __init__(self, bentoml_home: Path, model_tag: str, env: dict[str, str] | None = None):
        super().__init__(
            {
                "BENTOML_HOME": str(bentoml_home),
                "BENTOML_DO_NOT_TRACK": "true",
                "MODEL_TAG": model_tag,
                # The developer's own service settings must not leak into a test's server.
                "MODEL_SERVICE_TOKEN": "",
                **(env or {}),
            }
        )

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "bentoml", "serve", SERVICE,
                "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
