"""`ValidReview`: the review named in the path, or a 404 for every route that takes one;
`OwnedReview`, that review when the caller may change it;
`ReviewInsertsDep`, the group commit that stores new reviews; `ScorerDep`, the review scorer.

The app-state dependencies are `async def` though they never wait: FastAPI runs a plain `def`
dependency in its thread pool, a hand-off there and back on every request.
"""

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker

from gateway.coalescer import group_commit
from gateway.database import SessionDep
from gateway.reviews import service as review_service
from gateway.reviews.models import Review
from gateway.reviews.scorer import ReviewScorer
from gateway.reviews.service import REVIEW_NOT_FOUND, Inserted, NewReview, ReviewInserts
from gateway.users.dependencies import CurrentUser


def valid_review_id(review_id: int, session: SessionDep) -> Review:
    review = review_service.get(session=session, review_id=review_id)
    if review is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=REVIEW_NOT_FOUND)
    return review


ValidReview = Annotated[Review, Depends(valid_review_id)]

NOT_YOURS = "Only the review's author or an admin may change it"


def owned_review(caller: CurrentUser, review: ValidReview) -> Review:
    """The review in the path when the caller may change it (the caller is resolved first, so a
    stranger gets 401 before learning whether the review exists), else 403."""
    if not caller.owns(review.user_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=NOT_YOURS)
    return review


OwnedReview = Annotated[Review, Depends(owned_review)]


def review_inserts(
    session_factory: sessionmaker[Session], *, max_reviews: int, max_in_flight: int
) -> ReviewInserts:
    """New reviews of concurrent requests, stored pending in shared transactions."""

    def insert(new_reviews: Sequence[NewReview]) -> list[Inserted]:
        with session_factory() as session:
            return review_service.create_many(session=session, new_reviews=new_reviews)

    return group_commit(insert, max_items=max_reviews, max_in_flight=max_in_flight)


async def get_review_inserts(request: Request) -> ReviewInserts:
    return request.app.state.review_inserts


async def get_scorer(request: Request) -> ReviewScorer:
    return request.app.state.scorer


ReviewInsertsDep = Annotated[ReviewInserts, Depends(get_review_inserts)]
ScorerDep = Annotated[ReviewScorer, Depends(get_scorer)]
