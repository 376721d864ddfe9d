"""Routes under /reviews/: a write stores the review and has the model service score it too."""

from fastapi import APIRouter, Response, status

from gateway.database import SessionDep
from gateway.fields import Limit, Skip
from gateway.idempotency.dependencies import (
    CREATED,
    KEY_CONFLICT,
    IdempotencyKeyDep,
    answered,
)
from gateway.movies.dependencies import ValidMovie
from gateway.reviews import service as review_service
from gateway.reviews.dependencies import OwnedReview, ReviewInsertsDep, ScorerDep, ValidReview
from gateway.reviews.models import Review
from gateway.reviews.schemas import ReviewCreate, ReviewRead, ReviewUpdate
from gateway.schemas import FORBIDDEN, INVALID_INPUT, NOT_FOUND, UNREADABLE_BODY, WRITE, Message
from gateway.users.dependencies import CurrentUser

router = APIRouter(prefix="/reviews", tags=["reviews"], responses=INVALID_INPUT)

REVIEW_GONE = "The review first created with this Idempotency-Key has since been deleted"


@router.get("/", response_model=list[ReviewRead])
def list_reviews(session: SessionDep, skip: Skip = 0, limit: Limit = 10) -> list[Review]:
    """Reviews of every movie, newest first."""
    return review_service.get_all(session=session, skip=skip, limit=limit)


@router.post(
    "/",
    response_model=ReviewRead,
    status_code=status.HTTP_201_CREATED,
    responses={**CREATED, **WRITE, **NOT_FOUND, **KEY_CONFLICT, **UNREADABLE_BODY},
)
async def create_review(
    caller: CurrentUser,
    key: IdempotencyKeyDep,
    review_in: ReviewCreate,
    response: Response,
    inserts: ReviewInsertsDep,
    scorer: ScorerDep,
) -> Review:
    """Store the review and score it; `status` stays `pending` while the model service is away.
    A signed-in user's review is theirs (author: their display name)."""
    written = await review_service.create_and_score(
        inserts=inserts,
        scorer=scorer,
        review_in=review_service.authored(review_in=review_in, caller=caller),
        key=key.guarding(review_in),
    )
    return answered(written, response, gone=REVIEW_GONE)


@router.get("/movie/{movie_id}", response_model=list[ReviewRead], responses=NOT_FOUND)
def list_movie_reviews(
    movie: ValidMovie, session: SessionDep, skip: Skip = 0, limit: Limit = 10
) -> list[Review]:
    """The movie's reviews, newest first."""
    return review_service.get_all(session=session, skip=skip, limit=limit, movie_id=movie.id)


@router.get("/{review_id}", response_model=ReviewRead, responses=NOT_FOUND)
def read_review(review: ValidReview) -> Review:
    return review


@router.patch(
    "/{review_id}",
    response_model=ReviewRead,
    responses={**WRITE, **FORBIDDEN, **NOT_FOUND, **UNREADABLE_BODY},
)
async def update_review(
    caller: CurrentUser,
    review: OwnedReview,
    review_in: ReviewUpdate,
    session: SessionDep,
    scorer: ScorerDep,
) -> Review:
    """Change the fields sent (the author's own review, or any as an admin); new content is
    scored again (or left `pending`, as on create)."""
    return await review_service.update_and_score(
        session=session, scorer=scorer, review=review, review_in=review_in, caller=caller
    )


@router.delete(
    "/{review_id}",
    response_model=Message,
    responses={**WRITE, **FORBIDDEN, **NOT_FOUND},
)
def delete_review(review: OwnedReview, session: SessionDep) -> Message:
    """Delete the review: the author's own, or any as an admin."""
    review_service.delete_(session=session, review=review)
    return Message(message="Review deleted successfully")
