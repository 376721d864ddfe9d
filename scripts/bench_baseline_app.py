"""The per-request design the model service replaces, served for the benchmark's comparison.

A FastAPI endpoint that runs a transformers `pipeline("sentiment-analysis")` over Optimum's
ORTModelForSequenceClassification on the bundle's INT8 model, one text per call:
    BENCH_BUNDLE=models/korean-sentiment uvicorn --factory scripts.bench_baseline_app:create_app
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel, Field

from model_service.inference import read_card, session_options
from tests.support.server_process import ServerProcess


class ClassifyBody(BaseModel):
    """The model service's request body, so one load script drives both designs."""

    texts: list[str] = Field(min_length=1)


def create_app() -> FastAPI:
    """The app over the bundle in $BENCH_BUNDLE, with the model service's onnxruntime options."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    bundle = Path(os.environ["BENCH_BUNDLE"])
    card = read_card(bundle)
    model = ORTModelForSequenceClassification.from_pretrained(
        bundle, session_options=session_options(), local_files_only=True
    )
    classifier = pipeline(
        "sentiment-analysis",
        model=model,
        tokenizer=AutoTokenizer.from_pretrained(bundle),
        truncation=True,
        max_length=card["max_tokens"],
    )
    app = FastAPI(title="per-request baseline")

    # A plain `def`: FastAPI runs it in its thread pool, so concurrent requests overlap in the
    # onnxruntime session instead of queueing behind a blocked event loop.
    @app.post("/classify")
    def classify(body: ClassifyBody) -> dict:
        return {"predictions": [classifier(text)[0] for text in body.texts]}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


class BaselineServer(ServerProcess):
    """uvicorn (one worker, no access log, like the model service) serving create_app."""

    name = "bench-baseline"
    ready_path = "/health"

    def __init__(self, bundle: Path) -> None:
        super().__init__({"BENCH_BUNDLE": str(Path(bundle).resolve())})

    def command(self) -> Sequence[str]:
        app = "scripts.bench_baseline_app:create_app"
        return [sys.executable, "-m", "uvicorn", "--factory", app,
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]  # fmt: skip
