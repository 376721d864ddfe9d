"""Routes under /models: the live and candidate models, and their comparison. Open to everyone."""

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.database import SessionDep
from gateway.rollout import service as rollout_service
from gateway.rollout.dependencies import CandidateDep, RolloutMetricsDep
from gateway.rollout.schemas import Comparison, Models
from gateway.schemas import INVALID_INPUT, ErrorBody
from gateway.scoring.dependencies import ModelServiceDep

router = APIRouter(prefix="/models", tags=["models"], responses=INVALID_INPUT)

UNKNOWN_CANDIDATE = {404: {"model": ErrorBody, "description": "No such candidate, or none set"}}

CandidateTag = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        # A model store tag (name:version); anything else names no model, and a NUL would reach
        # PostgreSQL, which refuses it in a string.
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(:[A-Za-z0-9_.\-]+)?$",
        description="A candidate's model tag; by default the one in shadow now.",
    ),
]


@router.get("", response_model=Models)
async def list_models(
    session: SessionDep, model_service: ModelServiceDep, candidate: CandidateDep
) -> Models:
    """The live model, the candidate in shadow (if any), and how many reviews each tag scored."""
    return await rollout_service.overview(session=session, live=model_service, candidate=candidate)


@router.get("/comparison", response_model=Comparison, responses=UNKNOWN_CANDIDATE)
async def compare_models(
    session: SessionDep,
    model_service: ModelServiceDep,
    candidate_service: CandidateDep,
    metrics: RolloutMetricsDep,
    candidate: CandidateTag = None,
) -> Comparison:
    """The live model against a candidate over the reviews both scored."""
    return await rollout_service.comparison(
        session=session,
        live=model_service,
        candidate=candidate_service,
        candidate_tag=candidate,
        metrics=metrics,
    )
