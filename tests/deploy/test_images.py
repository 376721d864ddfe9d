"""The images, checked statically: each installs only its own dependency group, runs as a non-root
user, has a health check, and builds from a context that leaves local state out."""

import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stack.process import REPO_ROOT
from tests.support.deployment import (
    PART_GROUPS,
    compose,
    dockerfile_of,
    dockerignore_excludes,
    dockerignore_patterns,
    final_stage,
    instructions,
)

TRAINING_ONLY = re.compile(r"\b(torch|transformers|optimum)\b", re.IGNORECASE)
PARTS = sorted(PART_GROUPS)


def dockerfile(part: str) -> Path:
    return dockerfile_of(compose()["services"][part])


def test_every_dockerfile_belongs_to_a_compose_service() -> None:
    used = {dockerfile(part) for part in PARTS}
    assert set((REPO_ROOT / "docker").glob("*.Dockerfile")) == used


@pytest.mark.parametrize("part", PARTS)
def test_image_installs_only_its_own_group(part: str) -> None:
    runs = [step.arguments for step in instructions(dockerfile(part)) if step.keyword == "RUN"]
    installs = [run for run in runs if "--group" in run]
    groups = {group for run in installs for group in re.findall(r"--group[= ](\S+)", run)}
    assert groups == {PART_GROUPS[part]}
    assert all("-c constraints.txt" in run for run in installs), installs
    assert not [run for run in runs if TRAINING_ONLY.search(run)]


@pytest.mark.parametrize("part", PARTS)
def test_image_group_holds_no_training_packages(part: str) -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = pyproject["dependency-groups"][PART_GROUPS[part]]
    assert not [req for req in requirements if TRAINING_ONLY.search(req)]


@pytest.mark.parametrize("part", PARTS)
def test_image_pip_reads_dependency_groups(part: str) -> None:
    """`pip install --group` needs pip 25.1 or newer; the image pins its pip."""
    runs = " ".join(s.arguments for s in instructions(dockerfile(part)) if s.keyword == "RUN")
    (version,) = re.findall(r"pip==(\d+)\.(\d+)", runs)
    assert tuple(map(int, version)) >= (25, 1)


@pytest.mark.parametrize("part", PARTS)
def test_image_runs_as_a_non_root_user(part: str) -> None:
    users = [step.arguments for step in final_stage(dockerfile(part)) if step.keyword == "USER"]
    assert users, "the final stage sets no USER, so the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


@pytest.mark.parametrize("part", PARTS)
def test_image_has_a_health_check_and_a_command(part: str) -> None:
    keywords = [step.keyword for step in final_stage(dockerfile(part))]
    assert "HEALTHCHECK" in keywords
    assert "CMD" in keywords


@pytest.mark.parametrize("part", PARTS)
def test_image_copies_no_other_part(part: str) -> None:
    others = {"model_service", "gateway", "ui", "models"} - {part.replace("-", "_")}
    if part == "model-service":
        others -= {"models"}  # the bundle it bakes in
    copied = [
        word.strip("/").split("/")[0]
        for step in instructions(dockerfile(part))
        if step.keyword == "COPY"
        for word in step.words()[:-1]
        if not word.startswith("--")
    ]
    assert not set(copied) & others, copied


def test_model_image_serves_the_service_bentofile_packages() -> None:
    bentofile = yaml.safe_load((REPO_ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    (command,) = [
        s.arguments for s in final_stage(dockerfile("model-service")) if s.keyword == "CMD"
    ]
    assert f"bentoml serve {bentofile['service']} " in command


def test_model_image_bakes_the_default_bundle_into_its_store() -> None:
    steps = instructions(dockerfile("model-service"))
    args = {s.words()[0].split("=")[0]: s.words()[0] for s in steps if s.keyword == "ARG"}
    assert args["MODEL_BUNDLE"] == "MODEL_BUNDLE=models/korean-sentiment"
    assert any("training.register" in s.arguments for s in steps if s.keyword == "RUN")
    final = final_stage(dockerfile("model-service"))
    env = " ".join(s.arguments for s in final if s.keyword == "ENV")
    (store,) = re.findall(r"BENTOML_HOME=(\S+)", env)
    assert any(s.keyword == "COPY" and s.words()[-1] == store for s in final)


KEPT_OUT = [
    "state/bentoml/models/x/model.onnx",
    "state/moviegpt.db",
    ".venv/bin/python",
    ".git/HEAD",
    ".env",
    "checkpoints/korean-sentiment/model.safetensors",
    "artifacts/screenshots/01-home.png",
    "tests/conftest.py",
    "gateway/__pycache__/main.cpython-311.pyc",
]
NEEDED = [
    "pyproject.toml",
    "constraints.txt",
    "model_service/service.py",
    "gateway/alembic.ini",
    "gateway/migrations/env.py",
    "ui/style.css",
    "training/register.py",
    "models/korean-sentiment/model.onnx",
    "models/korean-sentiment/card.json",
]


@pytest.mark.parametrize("path", KEPT_OUT)
def test_build_context_leaves_out_local_state(path: str) -> None:
    assert dockerignore_excludes(path, dockerignore_patterns())


@pytest.mark.parametrize("path", NEEDED)
def test_build_context_keeps_what_the_images_copy(path: str) -> None:
    assert not dockerignore_excludes(path, dockerignore_patterns())


class _Probed(http.server.BaseHTTPRequestHandler):
    """Answers 200 on the path the server was told is healthy, 503 elsewhere."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == self.server.healthy_path else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def probed_server(healthy_path: str) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Probed)
    server.healthy_path = healthy_path
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def health_check_command(part: str) -> list[str]:
    """The final stage's HEALTHCHECK command as Docker runs it: exec form, or shell form via sh."""
    (check,) = [s.arguments for s in final_stage(dockerfile(part)) if s.keyword == "HEALTHCHECK"]
    command = check[check.index("CMD ") + len("CMD ") :].strip()
    return json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]


@pytest.mark.parametrize(
    ("part", "path"),
    [("model-service", "/readyz"), ("gateway", "/health"), ("ui", "/")],
)
def test_health_check_passes_only_when_the_part_answers_200(part: str, path: str) -> None:
    """Run as Docker would, on the port Cloud Run gives (PORT), against a stand-in server."""
    command = health_check_command(part)
    env = {key: value for key, value in os.environ.items() if not key.endswith("PORT")}
    # `python` in the image is its venv's; here, the test run's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with probed_server(healthy_path=path) as port:
        healthy = subprocess.run(command, cwd=REPO_ROOT, env={**env, "PORT": str(port)},
                                 capture_output=True, timeout=60)  # fmt: skip
    with probed_server(healthy_path="/elsewhere") as port:
        failing = subprocess.run(command, cwd=REPO_ROOT, env={**env, "PORT": str(port)},
                                 capture_output=True, timeout=60)  # fmt: skip
    assert healthy.returncode == 0, healthy.stderr
    assert failing.returncode != 0
