"""Request dependency for the model-service client the lifespan created.

It is `async def` though it never waits: FastAPI runs a plain `def` dependency in its thread pool,
a hand-off there and back on every request.
"""

from typing import Annotated

from fastapi import Depends, Request

from gateway.scoring.client import ModelServiceClient


async def get_model_service(request: Request) -> ModelServiceClient:
    return request.app.state.model_service


ModelServiceDep = Annotated[ModelServiceClient, Depends(get_model_service)]
