"""`bentoml build` of bentofile.yaml, offline, into a temporary BENTOML_HOME with the tiny model."""

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

TRAINING_ONLY = ("torch", "transformers", "optimum", "onnx==")


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
