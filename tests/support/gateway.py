"""A real gateway (`python -m gateway`, uvicorn) on a free loopback port, for integration tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tests.support.server_process import ServerProcess

# Quick retries, so a test that waits for the background scorer waits seconds, not minutes.
FAST_SCORER = {"SCORER_POLL_INTERVAL_S": "0.3", "SCORER_MAX_BACKOFF_S": "1"}


class GatewayProcess(ServerProcess):
    """The gateway against `database_url` and `model_service_url`, ready once /health is 200
    (the database answers; the model service may be down).

    The port stays the same across stop()/start(), so clients keep their URL over a restart.
    `env` adds gateway settings, e.g. {"MODEL_SERVICE_TOKEN": "..."}.
    """

    name = "gateway"
    ready_path = "/health"

    def __init__(
        self, database_url: str, model_service_url: str, env: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        self.env |= {
            "DATABASE_URL": database_url,
            "MODEL_SERVICE_URL": model_service_url,
            # The developer's own gateway settings must not leak into a test's server.
            "MODEL_SERVICE_TOKEN": "",
            "GATEWAY_HOST": "127.0.0.1",
            # PORT (Cloud Run's) wins over GATEWAY_PORT, so both name this server's port.
            "GATEWAY_PORT": str(self.port),
            "PORT": str(self.port),
            **FAST_SCORER,
            **(env or {}),
        }

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gateway"]
