"""Register a model bundle directory in the BentoML model store as the <name>:<version> of its card.

    python -m training register models/korean-sentiment --if-missing
The store is $BENTOML_HOME (state/bentoml under make). A bundle that does not load is refused.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import bentoml
from bentoml.exceptions import NotFound

from model_service.inference import SentimentModel, read_card
from training.options import RegisterOptions

log = logging.getLogger(__name__)

BUNDLE_FILES = ("model.onnx", "tokenizer.json", "config.json", "card.json")


class RegisterError(Exception):
    """The bundle cannot be registered; the message says why."""


def bundle_tag(bundle_dir: str | Path) -> str:
    card = read_card(bundle_dir)
    return f"{card['name']}:{card['version']}"


def is_registered(tag: str) -> bool:
    """Whether exactly this name:version is in the store (the store's get also matches prefixes)."""
    try:
        return str(bentoml.models.get(tag).tag) == tag
    except NotFound:
        return False


def store_metadata(card: dict) -> dict:
    """The card's headline for `bentoml models get` (the full card is in the entry's directory)."""
    parity = card.get("parity") or {}
    summary = {
        "source": card.get("source"),
        "labels": card["labels"],
        "neutral_threshold": card.get("neutral_threshold"),
        "max_tokens": card["max_tokens"],
        "quantization_preset": (card.get("quantization") or {}).get("preset"),
        "agreement": parity.get("agreement"),
        "parity_forced": parity.get("forced"),
        "created_at": card.get("created_at"),
    }
    return {key: value for key, value in summary.items() if value is not None}  # store rejects None


def register_bundle(bundle_dir: str | Path, *, if_missing: bool = False) -> dict:
    """Copy the bundle into the store; returns {"tag", "path", "registered"}."""
    bundle = Path(bundle_dir)
    missing = [name for name in BUNDLE_FILES if not (bundle / name).is_file()]
    if missing:
        raise RegisterError(f"{bundle} is not a model bundle: missing {', '.join(missing)}")
    tag = bundle_tag(bundle)
    if is_registered(tag):
        if if_missing:
            return {"tag": tag, "path": bentoml.models.get(tag).path, "registered": False}
        raise RegisterError(f"{tag} is already in the model store; a version is never overwritten")
    card = read_card(bundle)
    # Loading and scoring once proves the files belong together before the store serves them.
    SentimentModel.load(bundle, intra_op_threads=1).predict(["확인"])
    labels = {"task": "sentiment", "language": "ko", "classes": "-".join(card["labels"])}
    with bentoml.models.create(tag, labels=labels, metadata=store_metadata(card)) as ref:
        shutil.copytree(bundle, ref.path, dirs_exist_ok=True)
    log.info("registered %s from %s", tag, bundle)
    return {"tag": tag, "path": bentoml.models.get(tag).path, "registered": True}


def main(options: RegisterOptions) -> int:
    """`python -m training register`: the result as one JSON line, or exit status 1 and why."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        result = register_bundle(options.bundle_dir, if_missing=options.if_missing)
    except (RegisterError, ValueError, FileNotFoundError) as error:
        log.error("%s", error)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0
