"""Fixtures shared by every part's tests: the throwaway PostgreSQL cluster, the tiny model."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.parts import GatewayProcess, ModelServiceProcess
from stack.postgres import ThrowawayPostgres
from stack.process import REPO_ROOT


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster this test run starts; stopped and removed at the end, pass or fail."""
    cluster = ThrowawayPostgres().init()
    cluster.start()
    try:
        cluster.wait_ready()
        cluster.create_database()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres: ThrowawayPostgres) -> str:
    return postgres.url


# The tiny model: a small BERT built on the fly and pushed through the real build pipeline. Heavy
# imports (torch, optimum) happen inside the fixtures, so only tests that use them pay for them.


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face checkpoint dir: tiny BertForSequenceClassification (negative/neutral/positive)
    with its WordPiece tokenizer, fitted for a few steps on training.tiny.SAMPLE_REVIEWS."""
    from training.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-checkpoint"))


@pytest.fixture(scope="session")
def tiny_reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gzip'd review TSV (the project's columns) of the sample reviews, used as dev data."""
    from training.tiny import write_sample_reviews

    return write_sample_reviews(tmp_path_factory.mktemp("tiny-data") / "dev.tsv.gz", copies=2)


@pytest.fixture(scope="session")
def tiny_bundle(
    tiny_checkpoint: Path, tiny_reviews: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """tiny_checkpoint through training.build (export → quantize → gate → bundle dir);
    not registered. Its card names it korean-sentiment:<version>."""
    return build_bundle(tiny_checkpoint, tiny_reviews, tmp_path_factory.mktemp("tiny-bundle"))


def build_bundle(checkpoint: Path, dev: Path, parent: Path) -> Path:
    from training.build import BuildOptions, build

    out = parent / "korean-sentiment"
    build(BuildOptions(source=str(checkpoint), out=out, dev=dev, register=False, latency_texts=20))
    return out


def register_bundle(bundle: Path, bentoml_home: Path) -> str:
    """`training register` of `bundle` into `bentoml_home`'s store; the bundle's tag."""
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
    registered = subprocess.run(
        [sys.executable, "-m", "training", "register", str(bundle)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if registered.returncode != 0:
        pytest.fail(f"registering {bundle} failed:\n{registered.stderr}")
    card = json.loads((bundle / "card.json").read_text(encoding="utf-8"))
    return f"{card['name']}:{card['version']}"


@pytest.fixture(scope="session")
def tiny_bentoml_home(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BENTOML_HOME whose model store holds tiny_bundle, registered by `training register`."""
    home = tmp_path_factory.mktemp("bentoml-home")
    register_bundle(tiny_bundle, home)
    return home


@pytest.fixture(scope="session")
def tiny_model_tag(tiny_bundle: Path, tiny_bentoml_home: Path) -> str:
    """tiny_bundle's tag in tiny_bentoml_home's store, e.g. korean-sentiment:20261121-ab12cd."""
    card = json.loads((tiny_bundle / "card.json").read_text(encoding="utf-8"))
    return f"{card['name']}:{card['version']}"


@pytest.fixture(scope="session")
def model_service_url(tiny_bentoml_home: Path, tiny_model_tag: str) -> Iterator[str]:
    """A real `bentoml serve` of the model service with the tiny model, open (no token);
    stopped at the end of the run, pass or fail."""
    with ModelServiceProcess(tiny_bentoml_home, tiny_model_tag) as service:
        yield service.url


@pytest.fixture(scope="session")
def gateway_url(postgres: ThrowawayPostgres, model_service_url: str) -> Iterator[str]:
    """A real gateway (`python -m gateway`) on its own PostgreSQL database, scoring through
    model_service_url; stopped at the end of the run, pass or fail."""
    with GatewayProcess(postgres.create_database("gateway"), model_service_url) as gateway:
        yield gateway.url


@pytest.fixture(scope="session")
def bento(tiny_bentoml_home: Path, tiny_model_tag: str, tmp_path_factory) -> Path:
    """`bentoml build` of bentofile.yaml, offline, into a copy of the tiny store.

    Returns the built bento's directory; session-wide, so every test of the bento shares one build.
    """
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


# The tiny model without a rating head, as a hub checkpoint comes: its bundle has no stars.


@pytest.fixture(scope="session")
def headless_bundle(tiny_reviews: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny bundle built from a checkpoint without a rating head: no `stars` output."""
    from training.tiny import build_tiny_checkpoint

    checkpoint = build_tiny_checkpoint(
        tmp_path_factory.mktemp("headless-checkpoint"), rating_head=False
    )
    return build_bundle(checkpoint, tiny_reviews, tmp_path_factory.mktemp("headless-bundle"))


@pytest.fixture(scope="session")
def headless_service_url(
    headless_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real `bentoml serve` of headless_bundle from its own store; stopped at the end."""
    home = tmp_path_factory.mktemp("headless-bentoml-home")
    tag = register_bundle(headless_bundle, home)
    with ModelServiceProcess(home, tag) as service:
        yield service.url


# A candidate that disagrees with the tiny model: another seed, and its positive and negative
# logits swapped in the config, so it calls positive what the live model calls negative.


@pytest.fixture(scope="session")
def candidate_bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The candidate's own model store, so `korean-sentiment:latest` in tiny_bentoml_home stays
    the tiny model whichever fixture registers first."""
    return tmp_path_factory.mktemp("candidate-bentoml-home")


@pytest.fixture(scope="session")
def candidate_model_tag(
    candidate_bentoml_home: Path, tiny_reviews: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A second tiny bundle, built and registered in candidate_bentoml_home's store; its tag."""
    from training.tiny import build_tiny_checkpoint

    checkpoint = build_tiny_checkpoint(tmp_path_factory.mktemp("candidate-checkpoint"), seed=1)
    config_path = checkpoint / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["id2label"] = {"0": "positive", "1": "neutral", "2": "negative"}
    config["label2id"] = {label: int(i) for i, label in config["id2label"].items()}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    bundle = build_bundle(checkpoint, tiny_reviews, tmp_path_factory.mktemp("candidate-bundle"))
    return register_bundle(bundle, candidate_bentoml_home)


@pytest.fixture(scope="session")
def candidate_service_url(candidate_bentoml_home: Path, candidate_model_tag: str) -> Iterator[str]:
    """A real `bentoml serve` of the disagreeing candidate; stopped at the end of the run."""
    with ModelServiceProcess(candidate_bentoml_home, candidate_model_tag) as service:
        yield service.url
