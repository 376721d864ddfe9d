"""Routes under /reviews/: a write stores the review and has the model service score it too."""

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from gateway.database import SessionDep
from gateway.fields import Limit, Skip
from gateway.movies.dependencies import MOVIE_NOT_FOUND, ValidMovie
from gateway.reviews import service as review_service
from gateway.reviews.dependencies import REVIEW_NOT_FOUND, ReviewInsertsDep, ValidReview
from gateway.reviews.models import Review
from gateway.reviews.schemas import ReviewCreate, ReviewRead, ReviewUpdate
from gateway.schemas import INVALID_INPUT, NOT_FOUND, UNREADABLE_BODY, Message
from gateway.scoring.client import Prediction
from gateway.scoring.dependencies import ScorerDep
from gateway.scoring.scorer import ReviewScorer
from gateway.scoring.service import Claim, ClaimedReview, new_claim

router = APIRouter(prefix="/reviews", tags=["reviews"], responses=INVALID_INPUT)


@router.get("/", response_model=list[ReviewRead])
def list_reviews(session: SessionDep, skip: Skip = 0, limit: Limit = 10) -> list[Review]:
    """Reviews of every movie, newest first."""
    return review_service.get_all(session=session, skip=skip, limit=limit)


@router.post(
    "/",
    response_model=ReviewRead,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **UNREADABLE_BODY},
)
async def create_review(
    review_in: ReviewCreate, inserts: ReviewInsertsDep, scorer: ScorerDep
) -> Review:
    """Store the review and score it; `status` stays `pending` while the model service is away."""
    # The hot write path: no request-scoped session; the insert shares a transaction with those
    # of concurrent requests, and so does storing the score (gateway.coalescer). The text goes
    # to the model service while the review is being stored, so the two waits overlap; the score
    # is stored after the review, as always.
    claim = new_claim(scorer.lease_s)
    predicting = asyncio.create_task(scorer.classifier.classify([review_in.content]))
    try:
        review = await inserts.submit((review_in, claim))
    except BaseException:
        _drop(predicting)
        raise
    if review is None:
        _drop(predicting)
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=MOVIE_NOT_FOUND)
    return await _score(scorer, review, claim, predicting)


def _drop(predicting: asyncio.Task[list[Prediction]]) -> None:
    """Cancel a prediction nobody will store (its failure, if it failed, is not an error here)."""
    predicting.cancel()
    predicting.add_done_callback(lambda task: task.cancelled() or task.exception())


@router.get("/movie/{movie_id}", response_model=list[ReviewRead], responses=NOT_FOUND)
def list_movie_reviews(
    movie: ValidMovie, session: SessionDep, skip: Skip = 0, limit: Limit = 10
) -> list[Review]:
    """The movie's reviews, newest first."""
    return review_service.get_all(session=session, skip=skip, limit=limit, movie_id=movie.id)


@router.get("/{review_id}", response_model=ReviewRead, responses=NOT_FOUND)
def read_review(review: ValidReview) -> Review:
    return review


@router.patch("/{review_id}", response_model=ReviewRead, responses={**NOT_FOUND, **UNREADABLE_BODY})
async def update_review(
    review: ValidReview, review_in: ReviewUpdate, session: SessionDep, scorer: ScorerDep
) -> Review:
    """Change the fields sent; new content is scored again (or left `pending`, as on create)."""
    claim = new_claim(scorer.lease_s)
    rewritten = await run_in_threadpool(
        review_service.update_, session=session, review=review, review_in=review_in, claim=claim
    )
    return await _score(scorer, review, claim) if rewritten else review


@router.delete("/{review_id}", response_model=Message, responses=NOT_FOUND)
def delete_review(review: ValidReview, session: SessionDep) -> Message:
    review_service.delete_(session=session, review=review)
    return Message(message="Review deleted successfully")


async def _score(
    scorer: ReviewScorer,
    review: Review,
    claim: Claim,
    predicting: Awaitable[list[Prediction]] | None = None,
) -> Review:
    """The review with its score, or as stored (`pending`) when it could not be scored now."""
    stored = await scorer.score_or_leave_pending(
        [ClaimedReview(id=review.id, content=review.content, claim_token=claim.token)], predicting
    )
    if stored:
        return stored[0]

    def read_again() -> Review | None:
        # Not scored: the model service is away, or the review changed or went meanwhile.
        with scorer.session_factory() as session:
            return session.get(Review, review.id)

    try:
        scored = await run_in_threadpool(read_again)
    except SQLAlchemyError:
        # The review is stored; answering with it as stored beats an error that invites a repost.
        return review
    if scored is None:
        # Deleted by another request while it was being scored.
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=REVIEW_NOT_FOUND)
    return scored
