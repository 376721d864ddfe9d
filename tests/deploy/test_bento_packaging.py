"""The model ships inside what is deployed: the bento built from bentofile.yaml carries the model's
files when exported (as `bentoml containerize` and `bentoml push` ship it), and the model image's
command serves the bundle its build registered, under the service's default MODEL_TAG."""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest
import yaml

from stack.process import REPO_ROOT, ServerProcess
from tests.support.deployment import final_stage

pytestmark = pytest.mark.integration

MODEL_DOCKERFILE = REPO_ROOT / "docker/model-service.Dockerfile"


def bentoml_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    env.pop("MODEL_TAG", None)  # the service's default, as in the image
    return env


def bento_tag(bento_dir: Path) -> str:
    info = yaml.safe_load((bento_dir / "bento.yaml").read_text(encoding="utf-8"))
    return f"{info['name']}:{info['version']}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_bento_lists_the_model(bento: Path, tiny_model_tag: str) -> None:
    home = bento.parents[2]  # <home>/bentos/<name>/<version>
    shown = subprocess.run(
        [sys.executable, "-m", "bentoml", "get", bento_tag(bento), "-o", "json"],
        env=bentoml_env(home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    services = json.loads(shown.stdout)["services"]
    assert [model["tag"] for service in services for model in service["models"]] == [tiny_model_tag]


def test_exported_bento_carries_the_model_files(
    bento: Path, tiny_bundle: Path, tiny_model_tag: str, tmp_path: Path
) -> None:
    archive = tmp_path / "bento.tar"
    exported = subprocess.run(
        [sys.executable, "-m", "bentoml", "export", bento_tag(bento), str(archive)],
        env=bentoml_env(bento.parents[2]), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    name, version = tiny_model_tag.split(":")
    with tarfile.open(archive) as tar:
        members = {member.name.removeprefix("./"): member for member in tar.getmembers()}
        model_dir = f"models/{name}/{version}"
        for file in ("model.onnx", "tokenizer.json", "config.json", "card.json"):
            shipped = tar.extractfile(members[f"{model_dir}/{file}"]).read()
            assert sha256(shipped) == sha256((tiny_bundle / file).read_bytes()), file


class ModelImageCommand(ServerProcess):
    """The model image's CMD, run here as the container would run it: PORT set, no MODEL_TAG."""

    name = "model-image"
    ready_path = "/readyz"

    def __init__(self, store: Path) -> None:
        env = bentoml_env(store)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["MODEL_SERVICE_TOKEN"] = ""
        super().__init__(env)
        self.env["PORT"] = str(self.port)

    def command(self) -> list[str]:
        (cmd,) = [s.arguments for s in final_stage(MODEL_DOCKERFILE) if s.keyword == "CMD"]
        return json.loads(cmd)


def test_model_image_serves_its_baked_bundle_under_the_default_tag(
    tiny_bundle: Path, tiny_model_tag: str, tmp_path: Path
) -> None:
    """The image's build registers its bundle into an empty store; its CMD then serves it."""
    store = tmp_path / "bentoml"
    registered = subprocess.run(
        [sys.executable, "-m", "training", "register", str(tiny_bundle)],
        cwd=REPO_ROOT, env=bentoml_env(store), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    with ModelImageCommand(store) as served:
        answer = httpx.post(f"{served.url}/classify", json={"texts": ["정말 재밌어요"]}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["model"] == tiny_model_tag
