"""Request dependencies for the candidate's client and the rollout metrics the app created.

`async def` though they never wait: FastAPI runs a plain `def` dependency in its thread pool.
"""

from typing import Annotated

from fastapi import Depends, Request

from gateway.rollout.metrics import RolloutMetrics
from gateway.scoring.client import ModelServiceClient


async def get_candidate(request: Request) -> ModelServiceClient | None:
    return request.app.state.candidate


async def get_rollout_metrics(request: Request) -> RolloutMetrics:
    return request.app.state.rollout_metrics


CandidateDep = Annotated[ModelServiceClient | None, Depends(get_candidate)]
RolloutMetricsDep = Annotated[RolloutMetrics, Depends(get_rollout_metrics)]
