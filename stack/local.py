"""The stack on this machine, as `make run` and `make serve-*` start it: fixed ports, logs under
state/logs/, the developer's environment as each part's configuration."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.parts import GatewayProcess, ModelServiceProcess, UIProcess
from stack.process import REPO_ROOT, ServerProcess

LOG_DIR = REPO_ROOT / "state" / "logs"
# The local admin's password when FIRST_SUPERUSER_PASSWORD is unset: generated once, kept here.
ADMIN_PASSWORD_FILE = REPO_ROOT / "state" / "admin-password"
LOCAL_ADMIN = "admin@localhost"
READY_TIMEOUT_S = 120.0
POLL_S = 0.5


@dataclass(frozen=True)
class LocalStack:
    """The three parts wired to each other on the ports the environment names; with
    CANDIDATE_MODEL_TAG, a second model service serving it, which the gateway shadows."""

    model_service: ModelServiceProcess
    gateway: GatewayProcess
    ui: UIProcess
    candidate: ModelServiceProcess | None = None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] = os.environ, log_dir: Path | None = LOG_DIR
    ) -> LocalStack:
        def port(name: str, default: int) -> int:
            return int(environ.get(name) or default)

        def log(part: str) -> Path | None:
            return None if log_dir is None else log_dir / f"{part}.log"

        admin = {
            "FIRST_SUPERUSER": environ.get("FIRST_SUPERUSER") or LOCAL_ADMIN,
            "FIRST_SUPERUSER_PASSWORD": environ.get("FIRST_SUPERUSER_PASSWORD")
            or local_admin_password(),
        }
        model_port = port("MODEL_SERVICE_PORT", 3000)
        gateway_port = port("GATEWAY_PORT", 8000)
        model_service_url = environ.get("MODEL_SERVICE_URL") or f"http://127.0.0.1:{model_port}"
        gateway_url = environ.get("GATEWAY_URL") or f"http://127.0.0.1:{gateway_port}"
        candidate = None
        shadow = {}
        if candidate_tag := environ.get("CANDIDATE_MODEL_TAG"):
            candidate = ModelServiceProcess(
                model_tag=candidate_tag,
                port=port("CANDIDATE_MODEL_SERVICE_PORT", model_port + 1),
                log_path=log("candidate-model-service"),
                isolated=False,
            )
            candidate.name = "candidate model service"
            shadow = {"SHADOW_MODEL_SERVICE_URL": candidate.url}
        return cls(
            model_service=ModelServiceProcess(
                port=model_port, log_path=log("model-service"), isolated=False
            ),
            gateway=GatewayProcess(
                None,
                model_service_url,
                admin | shadow,
                port=gateway_port,
                log_path=log("gateway"),
                isolated=False,
            ),
            ui=UIProcess(
                gateway_url,
                lang=None,
                port=port("UI_PORT", 7860),
                log_path=log("ui"),
                isolated=False,
            ),
            candidate=candidate,
        )

    def sign_in_hint(self) -> str:
        """How the developer signs in as the local admin: the password's file, not the password."""
        email = self.gateway.env["FIRST_SUPERUSER"]
        if self.gateway.env["FIRST_SUPERUSER_PASSWORD"] == _read(ADMIN_PASSWORD_FILE):
            where = f"password in {ADMIN_PASSWORD_FILE}"
        else:
            where = "password from FIRST_SUPERUSER_PASSWORD"
        return f"{email} ({where})"

    def parts(self) -> dict[str, ServerProcess]:
        parts: dict[str, ServerProcess] = {"model": self.model_service}
        if self.candidate is not None:
            parts["candidate"] = self.candidate
        return parts | {"gateway": self.gateway, "ui": self.ui}


def missing_from_store(model_tag: str) -> str | None:
    """Why `model_tag` cannot be served from the local model store, or None when it can."""
    import bentoml  # slow to import: only when a candidate is asked for
    from bentoml.exceptions import NotFound

    try:
        bentoml.models.get(model_tag)
    except NotFound:
        return (
            f"{model_tag} is not in the model store ({os.environ.get('BENTOML_HOME', '~/bentoml')})"
            ": build a bundle (python -m training build ...) and register it with "
            "`python -m training register DIR`; `bentoml models list` shows the tags there are"
        )
    return None


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def local_admin_password() -> str:
    """The local admin's password, generated (owner-only, git-ignored state/) on first use."""
    path = ADMIN_PASSWORD_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
    return _read(path) or ""


def _stop_on_sigterm() -> None:
    """SIGTERM takes the same way out as Ctrl-C, through the `finally` that stops every part."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run(stack: LocalStack) -> int:
    """Starts the three parts at once, waits for each, then watches them until Ctrl-C/SIGTERM
    (exit 0) or until one exits on its own (the others are stopped, exit 1)."""
    if stack.candidate is not None:
        problem = missing_from_store(stack.candidate.env["MODEL_TAG"])
        if problem:
            print(problem, file=sys.stderr)
            return 2
    _stop_on_sigterm()
    parts = list(stack.parts().values())
    try:
        for part in parts:
            # Tied to this thread: a supervisor SIGKILLed (or OOM-killed) takes its parts along.
            part.launch(die_with_this_thread=True)
            print(f"started {part.name} (pid {part.process.pid}, log {part.log_path})", flush=True)
        for part in parts:
            try:
                part.wait_ready(READY_TIMEOUT_S)
            except (RuntimeError, TimeoutError):
                print(f"{part.name} did not come up at {part.url}; see {LOG_DIR}", file=sys.stderr)
                return 1
        print(
            "\nMovie GPT is running (Ctrl-C stops everything):\n"
            f"  UI             {stack.ui.url}/\n"
            f"  gateway API    {stack.ui.env['GATEWAY_URL']}/docs\n"
            f"  model service  {stack.gateway.env['MODEL_SERVICE_URL']}/  (POST /classify)\n"
            f"  sign in as     {stack.sign_in_hint()}\n"
            + (
                f"  candidate      {stack.candidate.url}/  (in shadow; GET /models/comparison)\n"
                if stack.candidate
                else ""
            ),
            flush=True,
        )
        while all(part.process.poll() is None for part in parts):
            time.sleep(POLL_S)
        print(f"a part exited on its own; stopping the others (logs in {LOG_DIR})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("stopping...", flush=True)
        for part in parts:
            part.stop()
        print("stopped", flush=True)


def serve(part: ServerProcess) -> None:
    """Runs one part in the foreground, in place of this process: its output to the terminal,
    Ctrl-C straight to it."""
    command = list(part.command())
    os.chdir(REPO_ROOT)
    os.execve(command[0], command, part.env)
