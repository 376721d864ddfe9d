"""The per-request design the model service replaces, served for the benchmark's comparison.

A FastAPI endpoint that runs a transformers `pipeline("sentiment-analysis")` over Optimum's
ORTModelForSequenceClassification on the bundle's INT8 model, one text per call:
    BENCH_BUNDLE=models/korean-sentiment uvicorn --factory scripts.bench.baseline_app:create_app
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel, Field

from model_service.inference import available_cores, read_card, session_options
from stack.process import ServerProcess


class ClassifyBody(BaseModel):
    """The model service's request body, so one load script drives both designs."""

    texts: list[str] = Field(min_length=1)


def create_app() -> FastAPI:
    """The app over the bundle in $BENCH_BUNDLE, with the model service's onnxruntime options
    ($BENCH_INTRA_OP_THREADS threads, default one per core)."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    bundle = Path(os.environ["BENCH_BUNDLE"])
    card = read_card(bundle)
    threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "0")) or None
    model = ORTModelForSequenceClassification.from_pretrained(
        bundle, session_options=session_options(threads), local_files_only=True
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
    """uvicorn serving create_app with `workers` processes, the cores shared among them, and no
    access log: the model service's resources and settings."""

    name = "bench-baseline"
    ready_path = "/health"

    def __init__(self, bundle: Path, workers: int = 1) -> None:
        threads = max(1, available_cores() // workers)
        super().__init__(
            {"BENCH_BUNDLE": str(Path(bundle).resolve()), "BENCH_INTRA_OP_THREADS": str(threads)}
        )
        self.workers = workers

    def command(self) -> Sequence[str]:
        app = "scripts.bench.baseline_app:create_app"
        return [sys.executable, "-m", "uvicorn", "--factory", app, "--workers", str(self.workers),
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"]  # fmt: skip
