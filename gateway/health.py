"""GET /health: whether the database and the model service answer, and which model is served."""

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.database import SessionDep
from gateway.reviews.models import Review, ReviewStatus
from gateway.scoring.client import ModelServiceClient, ModelServiceError
from gateway.scoring.dependencies import ModelServiceDep

router = APIRouter(tags=["health"])

Availability = Literal["ok", "unavailable"]


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok: both answer; degraded: the model service does not (new reviews stay "
        "pending); unavailable: the database does not (HTTP 503)."
    )
    database: Availability
    model_service: Availability
    model: str | None = Field(description="Tag of the model the model service serves.")
    pending_reviews: int | None = Field(description="Reviews waiting for a score.")


@router.get("/health", responses={503: {"model": Health}})
async def health(session: SessionDep, model_service: ModelServiceDep, response: Response) -> Health:
    """The state the UI's status line and the container health check read."""
    pending = await run_in_threadpool(_count_pending, session)
    model = await _served_model(model_service)
    if pending is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status="unavailable" if pending is None else "ok" if model else "degraded",
        database="unavailable" if pending is None else "ok",
        model_service="ok" if model else "unavailable",
        model=model,
        pending_reviews=pending,
    )


def _count_pending(session: Session) -> int | None:
    try:
        return session.scalar(
            select(func.count(Review.id)).where(Review.status == ReviewStatus.PENDING)
        )
    except SQLAlchemyError:
        return None


async def _served_model(model_service: ModelServiceClient) -> str | None:
    if not await model_service.is_ready():
        return None
    try:
        return await model_service.served_model()
    except ModelServiceError:
        return None
