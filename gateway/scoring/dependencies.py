"""Request dependencies for the scorer and the model-service client the lifespan created.

They are `async def` though they never wait: FastAPI runs a plain `def` dependency in its thread
pool, a hand-off there and back on every request.
"""

from typing import Annotated

from fastapi import Depends, Request

from gateway.scoring.client import ModelServiceClient
from gateway.scoring.scorer import ReviewScorer


async def get_scorer(request: Request) -> ReviewScorer:
    return request.app.state.scorer


async def get_model_service(request: Request) -> ModelServiceClient:
    return request.app.state.model_service


ScorerDep = Annotated[ReviewScorer, Depends(get_scorer)]
ModelServiceDep = Annotated[ModelServiceClient, Depends(get_model_service)]
