"""The three parts as server processes, each one's command line and wiring defined once.

Tests and benchmarks start isolated parts (the default): free loopback ports, and none of the
developer's own tokens or keys. `make run` and `make serve-*` start them with `isolated=False`
on fixed ports, configured by the developer's environment like any deployment.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from stack.process import ServerProcess

SERVICE = "model_service.service:SentimentService"
# The machine client key of every isolated gateway this process starts (tests, benchmarks): full
# rights, the way a test or load generator drives the gateway without signing in.
MACHINE_KEY = secrets.token_urlsafe(24)
MACHINE_HEADERS = {"X-API-Key": MACHINE_KEY}
# And its first admin, for tests that sign in as one (the browser's admin-only controls).
TEST_ADMIN_EMAIL = "admin@localhost"
TEST_ADMIN_PASSWORD = secrets.token_urlsafe(18)
# Quick retries, so a test that waits for the background scorer waits seconds, not minutes.
FAST_SCORER = {"SCORER_POLL_INTERVAL_S": "0.3", "SCORER_MAX_BACKOFF_S": "1"}


class ModelServiceProcess(ServerProcess):
    """`bentoml serve` of `model_tag` from the model store at `bentoml_home`, ready once /readyz is.

    A None home or tag leaves BENTOML_HOME / MODEL_TAG to the environment. `env` adds the
    service's settings, e.g. {"MODEL_SERVICE_TOKEN": "..."}.
    """

    name = "model-service"
    ready_path = "/readyz"

    def __init__(
        self,
        bentoml_home: Path | None = None,
        model_tag: str | None = None,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        isolated: bool = True,
    ) -> None:
        wiring = {}
        if bentoml_home is not None:
            wiring["BENTOML_HOME"] = str(bentoml_home)
        if model_tag is not None:
            wiring["MODEL_TAG"] = model_tag
        if isolated:
            # The developer's own service settings must not leak into a test's server.
            wiring |= {"BENTOML_DO_NOT_TRACK": "true", "MODEL_SERVICE_TOKEN": ""}
        super().__init__({**wiring, **(env or {})}, port=port, log_path=log_path)
        self.isolated = isolated

    def command(self) -> Sequence[str]:
        # BentoML's own default host (every interface) unless isolated.
        host = ["--host", "127.0.0.1"] if self.isolated else []
        return [sys.executable, "-m", "bentoml", "serve", SERVICE, *host, "--port", str(self.port)]


class GatewayProcess(ServerProcess):
    """The gateway (`python -m gateway`, uvicorn) against `database_url` and `model_service_url`,
    ready once /health is 200 (the database answers; the model service may be down).

    The port stays the same across stop()/start(), so clients keep their URL over a restart.
    A None `database_url` leaves DATABASE_URL to the environment (the SQLite default).
    `env` adds gateway settings, e.g. {"MODEL_SERVICE_TOKEN": "..."}. Isolated, it accepts
    MACHINE_KEY (send MACHINE_HEADERS), has TEST_ADMIN_EMAIL as its first admin and signs
    tokens with a key of its own.
    """

    name = "gateway"
    ready_path = "/health"

    def __init__(
        self,
        database_url: str | None,
        model_service_url: str,
        env: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        isolated: bool = True,
    ) -> None:
        super().__init__(port=port, log_path=log_path)
        wiring = {"MODEL_SERVICE_URL": model_service_url}
        if database_url is not None:
            wiring["DATABASE_URL"] = database_url
        if isolated:
            # The developer's own gateway settings must not leak into a test's server.
            wiring |= {
                "MODEL_SERVICE_TOKEN": "",
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_API_KEYS": MACHINE_KEY,
                "SECRET_KEY": secrets.token_urlsafe(32),
                "FIRST_SUPERUSER": TEST_ADMIN_EMAIL,
                "FIRST_SUPERUSER_PASSWORD": TEST_ADMIN_PASSWORD,
                "RATE_LIMIT_STORAGE_URL": "memory://",
                **FAST_SCORER,
            }
        # PORT (Cloud Run's) wins over GATEWAY_PORT, so both name this server's port.
        wiring |= {"GATEWAY_PORT": str(self.port), "PORT": str(self.port)}
        self.env |= {**wiring, **(env or {})}

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "gateway"]


class UIProcess(ServerProcess):
    """The UI (`python -m ui`, Gradio) over the gateway at `gateway_url`, ready once its page loads.

    `lang` (ko or en) None leaves UI_LANG to the environment.
    """

    name = "ui"
    ready_path = "/"

    def __init__(
        self,
        gateway_url: str,
        *,
        lang: str | None = "ko",
        port: int | None = None,
        log_path: Path | None = None,
        isolated: bool = True,
    ) -> None:
        super().__init__(port=port, log_path=log_path)
        wiring = {"GATEWAY_URL": gateway_url}
        if lang is not None:
            wiring["UI_LANG"] = lang
        if isolated:
            wiring["GRADIO_SERVER_NAME"] = "127.0.0.1"
        # Gradio's own variable wins over PORT and UI_PORT.
        wiring["GRADIO_SERVER_PORT"] = str(self.port)
        self.env |= wiring

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "ui"]
