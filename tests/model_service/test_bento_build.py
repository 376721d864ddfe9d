"""`bentoml build` of bentofile.yaml, offline, into a temporary BENTOML_HOME with the tiny model."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.server_process import REPO_ROOT

pytestmark = pytest.mark.integration

TRAINING_ONLY = ("torch", "transformers", "optimum", "onnx==")


@pytest.fixture(scope="module")
def bento(tiny_bentoml_home: Path, tiny_model_tag: str, tmp_path_factory) -> Path:
    """The built bento's directory (a copy of the tiny store is built into, not the shared one)."""
    home = tmp_path_factory.mktemp("bento-build") / "bentoml"
    shutil.copytree(tiny_bentoml_home, home)
    env = {**os.environ, "BENTOML_HOME": str(home), "MODEL_TAG": tiny_model_tag,
           "BENTOML_DO_NOT_TRACK": "true"}  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "bentoml", "build"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (bento_yaml,) = (home / "bentos").glob("*/*/bento.yaml")
    return bento_yaml.parent


def test_bento_references_the_model_tag(bento: Path, tiny_model_tag: str) -> None:
    info = yaml.safe_load((bento / "bento.yaml").read_text(encoding="utf-8"))
    (service,) = info["services"]
    assert [model["tag"] for model in service["models"]] == [tiny_model_tag]


def test_bento_installs_the_model_group_only(bento: Path) -> None:
    requirements = (bento / "env/python/requirements.txt").read_text(encoding="utf-8").split()
    assert {"onnxruntime==1.31.1", "tokenizers==0.22.2", "bentoml==1.4.39"} <= set(requirements)
    assert not [pin for pin in requirements if pin.startswith(TRAINING_ONLY)]


def test_bento_carries_the_service_code(bento: Path) -> None:
    code = {path.name for path in (bento / "src/model_service").glob("*.py")}
    assert {"service.py", "inference.py", "settings.py"} <= code
    assert not (bento / "src/tests").exists()
    assert not (bento / "src/scripts").exists()
